"use strict";
var __assign = (this && this.__assign) || function () {
    __assign = Object.assign || function(t) {
        for (var s, i = 1, n = arguments.length; i < n; i++) {
            s = arguments[i];
            for (var p in s) if (Object.prototype.hasOwnProperty.call(s, p))
                t[p] = s[p];
        }
        return t;
    };
    return __assign.apply(this, arguments);
};
var __awaiter = (this && this.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};
var __generator = (this && this.__generator) || function (thisArg, body) {
    var _ = { label: 0, sent: function() { if (t[0] & 1) throw t[1]; return t[1]; }, trys: [], ops: [] }, f, y, t, g = Object.create((typeof Iterator === "function" ? Iterator : Object).prototype);
    return g.next = verb(0), g["throw"] = verb(1), g["return"] = verb(2), typeof Symbol === "function" && (g[Symbol.iterator] = function() { return this; }), g;
    function verb(n) { return function (v) { return step([n, v]); }; }
    function step(op) {
        if (f) throw new TypeError("Generator is already executing.");
        while (g && (g = 0, op[0] && (_ = 0)), _) try {
            if (f = 1, y && (t = op[0] & 2 ? y["return"] : op[0] ? y["throw"] || ((t = y["return"]) && t.call(y), 0) : y.next) && !(t = t.call(y, op[1])).done) return t;
            if (y = 0, t) op = [op[0] & 2, t.value];
            switch (op[0]) {
                case 0: case 1: t = op; break;
                case 4: _.label++; return { value: op[1], done: false };
                case 5: _.label++; y = op[1]; op = [0]; continue;
                case 7: op = _.ops.pop(); _.trys.pop(); continue;
                default:
                    if (!(t = _.trys, t = t.length > 0 && t[t.length - 1]) && (op[0] === 6 || op[0] === 2)) { _ = 0; continue; }
                    if (op[0] === 3 && (!t || (op[1] > t[0] && op[1] < t[3]))) { _.label = op[1]; break; }
                    if (op[0] === 6 && _.label < t[1]) { _.label = t[1]; t = op; break; }
                    if (t && _.label < t[2]) { _.label = t[2]; _.ops.push(op); break; }
                    if (t[2]) _.ops.pop();
                    _.trys.pop(); continue;
            }
            op = body.call(thisArg, _);
        } catch (e) { op = [6, e]; y = 0; } finally { f = t = 0; }
        if (op[0] & 5) throw op[1]; return { value: op[0] ? op[1] : void 0, done: true };
    }
};
var __spreadArray = (this && this.__spreadArray) || function (to, from, pack) {
    if (pack || arguments.length === 2) for (var i = 0, l = from.length, ar; i < l; i++) {
        if (ar || !(i in from)) {
            if (!ar) ar = Array.prototype.slice.call(from, 0, i);
            ar[i] = from[i];
        }
    }
    return to.concat(ar || Array.prototype.slice.call(from));
};
Object.defineProperty(exports, "__esModule", { value: true });
exports.fixtureDir = exports.FIXTURES = exports.FIXTURES_DIR = void 0;
exports.install = install;
exports.build = build;
var node_child_process_1 = require("node:child_process");
var node_crypto_1 = require("node:crypto");
var node_fs_1 = require("node:fs");
var node_path_1 = require("node:path");
var node_url_1 = require("node:url");
var node_util_1 = require("node:util");
/**
 * The fixture apps: each its own npm project (package.json and a committed package-lock.json),
 * outside the pnpm workspace, so the workspace install never downloads the frameworks. The test
 * setup installs each with `npm ci` when its node_modules was made from another lockfile, and
 * builds it the framework's own way when its sources or lockfile changed since the last build.
 * Stamps record both, so a second run (the other Node version in CI) reuses installs and builds.
 */
var run = (0, node_util_1.promisify)(node_child_process_1.execFile);
exports.FIXTURES_DIR = (0, node_url_1.fileURLToPath)(new URL('../fixtures/', import.meta.url));
exports.FIXTURES = [
    { name: 'nest', outputs: ['dist'], entry: 'dist/main.js' },
    { name: 'next', outputs: ['.next'], entry: '.next/standalone/server.js' },
    { name: 'nitro', outputs: ['.output', '.nitro'], entry: '.output/server/index.mjs' },
    { name: 'sveltekit', outputs: ['build', '.svelte-kit'], entry: 'build/index.js' },
];
var INSTALL_STAMP = (0, node_path_1.join)('node_modules', '.kelpie-install-stamp');
var BUILD_STAMP = '.kelpie-build-stamp';
var fixtureDir = function (name) { return (0, node_path_1.join)(exports.FIXTURES_DIR, name); };
exports.fixtureDir = fixtureDir;
// npm reads npm_config_* variables; those a pnpm script run sets must not reach the fixtures'
// npm. NODE_PATH (pnpm's shims point it at the workspace) must not let a build find packages the
// fixture lacks, and vitest's NODE_ENV=test must not reach the frameworks' production builds.
function cleanEnv() {
    var env = Object.fromEntries(Object.entries(process.env).filter(function (_a) {
        var key = _a[0];
        return !/^npm_/i.test(key);
    }));
    delete env.NODE_ENV;
    return __assign(__assign({}, env), { NODE_PATH: '', NEXT_TELEMETRY_DISABLED: '1' });
}
var sha256 = function (data) { return (0, node_crypto_1.createHash)('sha256').update(data).digest('hex'); };
function readStamp(file) {
    try {
        return (0, node_fs_1.readFileSync)(file, 'utf8').trim();
    }
    catch (_a) {
        return undefined;
    }
}
/** Every file of the fixture's own sources, in a stable order (no node_modules, outputs or stamps). */
function sourceFiles(dir, skip, base) {
    if (base === void 0) { base = dir; }
    var files = [];
    for (var _i = 0, _a = (0, node_fs_1.readdirSync)(dir, { withFileTypes: true }).sort(function (a, b) { return a.name.localeCompare(b.name); }); _i < _a.length; _i++) {
        var entry = _a[_i];
        var path = (0, node_path_1.join)(dir, entry.name);
        var rel = (0, node_path_1.relative)(base, path);
        if (skip.has(rel))
            continue;
        if (entry.isDirectory())
            files.push.apply(files, sourceFiles(path, skip, base));
        else if (entry.isFile())
            files.push(rel);
    }
    return files;
}
function sourceHash(fixture) {
    var dir = (0, exports.fixtureDir)(fixture.name);
    var skip = new Set(__spreadArray(['node_modules', BUILD_STAMP], fixture.outputs, true));
    var hash = (0, node_crypto_1.createHash)('sha256');
    for (var _i = 0, _a = sourceFiles(dir, skip); _i < _a.length; _i++) {
        var file = _a[_i];
        hash.update("".concat(file, "\0"));
        hash.update((0, node_fs_1.readFileSync)((0, node_path_1.join)(dir, file)));
        hash.update('\0');
    }
    return hash.digest('hex');
}
function npm(args, cwd) {
    return __awaiter(this, void 0, void 0, function () {
        var error_1, _a, stdout, stderr;
        return __generator(this, function (_b) {
            switch (_b.label) {
                case 0:
                    _b.trys.push([0, 2, , 3]);
                    return [4 /*yield*/, run('npm', __spreadArray(__spreadArray([], args, true), ['--no-audit', '--no-fund', '--loglevel=error'], false), {
                            cwd: cwd,
                            env: cleanEnv(),
                            maxBuffer: 64 * 1024 * 1024,
                        })];
                case 1:
                    _b.sent();
                    return [3 /*break*/, 3];
                case 2:
                    error_1 = _b.sent();
                    _a = error_1, stdout = _a.stdout, stderr = _a.stderr;
                    throw new Error("npm ".concat(args.join(' '), " failed in ").concat(cwd, ":\n").concat(stdout !== null && stdout !== void 0 ? stdout : '', "\n").concat(stderr !== null && stderr !== void 0 ? stderr : ''), { cause: error_1 });
                case 3: return [2 /*return*/];
            }
        });
    });
}
/** `npm ci` unless node_modules was installed from this very lockfile. Returns whether it ran. */
function install(fixture) {
    return __awaiter(this, void 0, void 0, function () {
        var dir, lock;
        return __generator(this, function (_a) {
            switch (_a.label) {
                case 0:
                    dir = (0, exports.fixtureDir)(fixture.name);
                    lock = sha256((0, node_fs_1.readFileSync)((0, node_path_1.join)(dir, 'package-lock.json')));
                    if (readStamp((0, node_path_1.join)(dir, INSTALL_STAMP)) === lock)
                        return [2 /*return*/, false];
                    return [4 /*yield*/, npm(['ci', '--prefer-offline'], dir)];
                case 1:
                    _a.sent();
                    (0, node_fs_1.writeFileSync)((0, node_path_1.join)(dir, INSTALL_STAMP), "".concat(lock, "\n"));
                    return [2 /*return*/, true];
            }
        });
    });
}
/** `npm run build` (the framework's own build) unless the sources and lockfile are those of the last build. */
function build(fixture) {
    return __awaiter(this, void 0, void 0, function () {
        var dir, hash;
        return __generator(this, function (_a) {
            switch (_a.label) {
                case 0:
                    dir = (0, exports.fixtureDir)(fixture.name);
                    hash = sourceHash(fixture);
                    if (readStamp((0, node_path_1.join)(dir, BUILD_STAMP)) === hash && (0, node_fs_1.existsSync)((0, node_path_1.join)(dir, fixture.entry)))
                        return [2 /*return*/, false];
                    return [4 /*yield*/, npm(['run', 'build'], dir)];
                case 1:
                    _a.sent();
                    if (!(0, node_fs_1.existsSync)((0, node_path_1.join)(dir, fixture.entry))) {
                        throw new Error("npm run build in ".concat(dir, " did not produce ").concat(fixture.entry));
                    }
                    (0, node_fs_1.writeFileSync)((0, node_path_1.join)(dir, BUILD_STAMP), "".concat(hash, "\n"));
                    return [2 /*return*/, true];
            }
        });
    });
}
