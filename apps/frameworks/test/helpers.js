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
exports.KELPIE_BIN = void 0;
exports.serve = serve;
exports.readEvents = readEvents;
exports.bootedWorkers = bootedWorkers;
exports.servingPids = servingPids;
exports.processTree = processTree;
exports.listenersOf = listenersOf;
exports.waitForEvent = waitForEvent;
var node_child_process_1 = require("node:child_process");
var node_fs_1 = require("node:fs");
var node_os_1 = require("node:os");
var node_path_1 = require("node:path");
var node_url_1 = require("node:url");
var node_util_1 = require("node:util");
var testkit_1 = require("@kelpie/testkit");
var apt_1 = require("@kelpie/testkit/apt");
var fixtures_js_1 = require("./fixtures.js");
var run = (0, node_util_1.promisify)(node_child_process_1.execFile);
/** The workspace's kelpie command (its built dist/). */
exports.KELPIE_BIN = (0, node_url_1.fileURLToPath)(new URL('../node_modules/kelpie/bin/kelpie.js', import.meta.url));
/**
 * `kelpie -w 2 -b 127.0.0.1:0 ...args entry` in the fixture's folder, the entry unchanged, as a
 * user would type it. NODE_ENV is left unset (vitest sets it to "test") so that what kelpie does
 * with it is what a user gets.
 */
function serve(fixture_1, entry_1) {
    return __awaiter(this, arguments, void 0, function (fixture, entry, args, env) {
        var dir, events, kp;
        if (args === void 0) { args = []; }
        if (env === void 0) { env = {}; }
        return __generator(this, function (_a) {
            switch (_a.label) {
                case 0:
                    dir = (0, node_fs_1.mkdtempSync)((0, node_path_1.join)((0, node_os_1.tmpdir)(), 'kelpie-frameworks-'));
                    events = (0, node_path_1.join)(dir, 'events.log');
                    return [4 /*yield*/, (0, testkit_1.startKelpie)(__spreadArray(__spreadArray(['-w', '2', '-b', '127.0.0.1:0'], args, true), [entry], false), {
                            cwd: (0, fixtures_js_1.fixtureDir)(fixture),
                            bin: exports.KELPIE_BIN,
                            autoBind: false,
                            timeoutMs: 90000,
                            env: __assign({ SHUTDOWN_LOG: events, NODE_ENV: undefined, NEXT_TELEMETRY_DISABLED: '1' }, env),
                        })];
                case 1:
                    kp = _a.sent();
                    return [2 /*return*/, { kp: kp, events: events, cleanup: function () { return (0, node_fs_1.rmSync)(dir, { recursive: true, force: true }); } }];
            }
        });
    });
}
/** The app's event lines, `<pid> <event...>`, in the order they were written. */
function readEvents(file) {
    var text = '';
    try {
        text = (0, node_fs_1.readFileSync)(file, 'utf8');
    }
    catch (_a) {
        return [];
    }
    return text
        .split('\n')
        .filter(Boolean)
        .map(function (line) {
        var _a = line.split(' '), pid = _a[0], rest = _a.slice(1);
        return { pid: Number(pid), event: rest.join(' ') };
    });
}
/** The pids of the workers booted so far, from the arbiter's log. */
function bootedWorkers(kp, from) {
    if (from === void 0) { from = 0; }
    return __spreadArray([], kp
        .log()
        .slice(from)
        .matchAll(/Booting worker with pid: (\d+)/g), true).map(function (m) { return Number(m[1]); });
}
/**
 * GET /pid on fresh connections, a few at a time, until `count` different pids answered (at most
 * `maxRequests` requests): the pids of the workers that served.
 */
function servingPids(url_1) {
    return __awaiter(this, arguments, void 0, function (url, count, maxRequests) {
        var pids, sent, replies, _i, replies_1, reply;
        if (count === void 0) { count = 2; }
        if (maxRequests === void 0) { maxRequests = 400; }
        return __generator(this, function (_a) {
            switch (_a.label) {
                case 0:
                    pids = new Set();
                    sent = 0;
                    _a.label = 1;
                case 1:
                    if (!(sent < maxRequests && pids.size < count)) return [3 /*break*/, 4];
                    return [4 /*yield*/, Promise.all(Array.from({ length: 8 }, function () { return (0, testkit_1.get)("".concat(url, "/pid")); }))];
                case 2:
                    replies = _a.sent();
                    for (_i = 0, replies_1 = replies; _i < replies_1.length; _i++) {
                        reply = replies_1[_i];
                        if (reply.status !== 200)
                            throw new Error("GET /pid: HTTP ".concat(reply.status, " ").concat(reply.body));
                        pids.add(JSON.parse(reply.body).pid);
                    }
                    _a.label = 3;
                case 3:
                    sent += 8;
                    return [3 /*break*/, 1];
                case 4: return [2 /*return*/, pids];
            }
        });
    });
}
/** The pid and every descendant of it, from /proc (Linux). */
function processTree(root) {
    var _a;
    var children = new Map();
    for (var _i = 0, _b = (0, node_fs_1.readdirSync)('/proc'); _i < _b.length; _i++) {
        var name_1 = _b[_i];
        if (!/^\d+$/.test(name_1))
            continue;
        var stat = void 0;
        try {
            stat = (0, node_fs_1.readFileSync)("/proc/".concat(name_1, "/stat"), 'utf8');
        }
        catch (_c) {
            continue; // gone meanwhile
        }
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
        var ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        children.set(ppid, __spreadArray(__spreadArray([], ((_a = children.get(ppid)) !== null && _a !== void 0 ? _a : []), true), [Number(name_1)], false));
    }
    var tree = new Set();
    var visit = function (pid) {
        var _a;
        tree.add(pid);
        for (var _i = 0, _b = (_a = children.get(pid)) !== null && _a !== void 0 ? _a : []; _i < _b.length; _i++) {
            var child = _b[_i];
            visit(child);
        }
    };
    visit(root);
    return tree;
}
/** Every listening TCP and unix socket held by one of `pids` (`ss -ltnxpH`). */
function listenersOf(pids) {
    return __awaiter(this, void 0, void 0, function () {
        var missing, stdout;
        return __generator(this, function (_a) {
            switch (_a.label) {
                case 0: return [4 /*yield*/, (0, apt_1.ensureCommand)('ss', 'iproute2')];
                case 1:
                    missing = _a.sent();
                    if (missing)
                        throw new Error("ss is needed to list listening sockets: ".concat(missing));
                    return [4 /*yield*/, run((0, apt_1.findCommand)('ss'), ['-ltnxpH'])];
                case 2:
                    stdout = (_a.sent()).stdout;
                    return [2 /*return*/, stdout
                            .split('\n')
                            .filter(Boolean)
                            .map(function (line) {
                            var fields = line.trim().split(/\s+/);
                            var owners = __spreadArray([], line.matchAll(/pid=(\d+)/g), true).map(function (m) { return Number(m[1]); });
                            return { netid: fields[0], local: fields[4], pids: owners };
                        })
                            .filter(function (listener) { return listener.pids.some(function (pid) { return pids.has(pid); }); })];
            }
        });
    });
}
/** Wait until the app wrote `event` (bounded). */
function waitForEvent(file, event, timeoutMs) {
    if (timeoutMs === void 0) { timeoutMs = 30000; }
    return (0, testkit_1.waitUntil)(function () { return readEvents(file).find(function (e) { return e.event === event; }); }, { timeoutMs: timeoutMs, what: "\"".concat(event, "\" in ").concat(file) });
}
