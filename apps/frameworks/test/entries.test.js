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
var testkit_1 = require("@kelpie/testkit");
var vitest_1 = require("vitest");
var frameworks_js_1 = require("./frameworks.js");
var helpers_js_1 = require("./helpers.js");
// Each framework's production entry, unchanged, under `kelpie -w 2` on loopback: the app calls
// its own listen(), and kelpie's sockets serve it. One kelpie per framework; the last test stops
// it with TERM during a slow request. Twice: with the listen capture Node's version gets by
// default (the diagnostics channel where Node has it), and with the listen() wrapper that older
// Node versions get (KELPIE_LISTEN_CAPTURE=patch), so both meet the real frameworks on every Node.
var CASES = frameworks_js_1.FRAMEWORKS.flatMap(function (framework) {
    return ['default', 'patch'].map(function (capture) { return ["".concat(framework.label, ", capture: ").concat(capture), __assign(__assign({}, framework), { capture: capture })]; });
});
(0, vitest_1.afterAll)(testkit_1.stopAll);
vitest_1.describe.each(CASES)('%s', function (_, framework) {
    var served;
    var url;
    (0, vitest_1.beforeAll)(function () { return __awaiter(void 0, void 0, void 0, function () {
        var env;
        return __generator(this, function (_a) {
            switch (_a.label) {
                case 0:
                    env = framework.capture === 'patch' ? { KELPIE_LISTEN_CAPTURE: 'patch' } : {};
                    return [4 /*yield*/, (0, helpers_js_1.serve)(framework.fixture, framework.entry, [], env)];
                case 1:
                    served = _a.sent();
                    url = served.kp.url;
                    return [2 /*return*/];
            }
        });
    }); });
    (0, vitest_1.afterAll)(function () { return __awaiter(void 0, void 0, void 0, function () {
        return __generator(this, function (_a) {
            switch (_a.label) {
                case 0: return [4 /*yield*/, (served === null || served === void 0 ? void 0 : served.kp.stop())];
                case 1:
                    _a.sent();
                    served === null || served === void 0 ? void 0 : served.cleanup();
                    return [2 /*return*/];
            }
        });
    }); });
    (0, vitest_1.it)('answers its routes with the framework’s own responses', function () { return __awaiter(void 0, void 0, void 0, function () {
        var hello, json, payload, echo, _a, _b, _c, _d, file, page;
        return __generator(this, function (_e) {
            switch (_e.label) {
                case 0: return [4 /*yield*/, (0, testkit_1.get)("".concat(url, "/"))];
                case 1:
                    hello = _e.sent();
                    (0, vitest_1.expect)(hello.status).toBe(200);
                    (0, vitest_1.expect)(hello.body).toBe(framework.hello);
                    return [4 /*yield*/, (0, testkit_1.get)("".concat(url, "/json"))];
                case 2:
                    json = _e.sent();
                    (0, vitest_1.expect)(json.status).toBe(200);
                    (0, vitest_1.expect)(json.headers['content-type']).toMatch(/^application\/json/);
                    (0, vitest_1.expect)(JSON.parse(json.body)).toEqual({ framework: framework.fixture, ok: true });
                    payload = { name: 'kelpie', list: [1, 2, 3], nested: { ok: true } };
                    return [4 /*yield*/, (0, testkit_1.get)("".concat(url, "/echo"), {
                            method: 'POST',
                            body: JSON.stringify(payload),
                            headers: { 'content-type': 'application/json' },
                        })];
                case 3:
                    echo = _e.sent();
                    (0, vitest_1.expect)(echo.status).toBe(200);
                    (0, vitest_1.expect)(JSON.parse(echo.body)).toEqual({ echo: payload });
                    _b = (_a = framework).notFound;
                    return [4 /*yield*/, (0, testkit_1.get)("".concat(url, "/missing"))];
                case 4:
                    _b.apply(_a, [_e.sent()]);
                    _d = (_c = framework).serverError;
                    return [4 /*yield*/, (0, testkit_1.get)("".concat(url, "/error"))];
                case 5:
                    _d.apply(_c, [_e.sent()]);
                    if (!(framework.staticFile !== undefined)) return [3 /*break*/, 7];
                    return [4 /*yield*/, (0, testkit_1.get)("".concat(url, "/static.txt"))];
                case 6:
                    file = _e.sent();
                    (0, vitest_1.expect)(file.status).toBe(200);
                    (0, vitest_1.expect)(file.body).toBe(framework.staticFile);
                    _e.label = 7;
                case 7:
                    if (!framework.page) return [3 /*break*/, 9];
                    return [4 /*yield*/, (0, testkit_1.get)("".concat(url, "/ssr"))];
                case 8:
                    page = _e.sent();
                    (0, vitest_1.expect)(page.status).toBe(200);
                    (0, vitest_1.expect)(page.headers['content-type']).toMatch(/^text\/html/);
                    (0, vitest_1.expect)(page.body).toMatch(framework.page);
                    _e.label = 9;
                case 9: return [2 /*return*/];
            }
        });
    }); });
    (0, vitest_1.it)('is served by both workers, and nothing listens but kelpie’s bind', function () { return __awaiter(void 0, void 0, void 0, function () {
        var workers, _a, _b, tree, _i, workers_1, pid, bind, listeners, tcp, unix, _c, unix_1, path;
        return __generator(this, function (_d) {
            switch (_d.label) {
                case 0:
                    workers = (0, helpers_js_1.bootedWorkers)(served.kp);
                    (0, vitest_1.expect)(workers).toHaveLength(2);
                    _a = vitest_1.expect;
                    _b = [[]];
                    return [4 /*yield*/, (0, helpers_js_1.servingPids)(url)];
                case 1:
                    _a.apply(void 0, [__spreadArray.apply(void 0, _b.concat([(_d.sent()), true])).sort()]).toEqual(__spreadArray([], workers, true).sort());
                    tree = (0, helpers_js_1.processTree)(served.kp.pid);
                    for (_i = 0, workers_1 = workers; _i < workers_1.length; _i++) {
                        pid = workers_1[_i];
                        (0, vitest_1.expect)(tree.has(pid)).toBe(true);
                    }
                    bind = new URL(url).host;
                    return [4 /*yield*/, (0, helpers_js_1.listenersOf)(tree)];
                case 2:
                    listeners = _d.sent();
                    tcp = listeners.filter(function (l) { return l.netid === 'tcp'; }).map(function (l) { return l.local; });
                    (0, vitest_1.expect)(tcp).toEqual([bind]);
                    unix = listeners.filter(function (l) { return l.netid !== 'tcp'; }).map(function (l) { return l.local; });
                    for (_c = 0, unix_1 = unix; _c < unix_1.length; _c++) {
                        path = unix_1[_c];
                        (0, vitest_1.expect)(path).toMatch(/\/kelpie\.ctl$/);
                    }
                    return [2 /*return*/];
            }
        });
    }); });
    (0, vitest_1.it)('TERM during a slow request: it completes, then the app’s shutdown hook runs once in each worker', function () { return __awaiter(void 0, void 0, void 0, function () {
        var kp, events, workers, slow, started, _i, workers_2, pid, reply, _a, lines, _loop_1, _b, workers_3, pid;
        return __generator(this, function (_c) {
            switch (_c.label) {
                case 0:
                    kp = served.kp, events = served.events;
                    workers = (0, helpers_js_1.bootedWorkers)(kp);
                    slow = (0, testkit_1.get)("".concat(url, "/slow?ms=2000"));
                    return [4 /*yield*/, (0, helpers_js_1.waitForEvent)(events, 'slow-start')];
                case 1:
                    started = _c.sent();
                    // Workers ignore HUP (a terminal's hang-up reaches the whole process group), even where the
                    // app listens for it: NestJS's enableShutdownHooks() does, with ten other signals.
                    for (_i = 0, workers_2 = workers; _i < workers_2.length; _i++) {
                        pid = workers_2[_i];
                        process.kill(pid, 'SIGHUP');
                    }
                    kp.signal('SIGTERM');
                    return [4 /*yield*/, slow];
                case 2:
                    reply = _c.sent();
                    (0, vitest_1.expect)(reply.status).toBe(200);
                    (0, vitest_1.expect)(reply.body).toBe('slow done');
                    _a = vitest_1.expect;
                    return [4 /*yield*/, kp.exited(60000)];
                case 3:
                    _a.apply(void 0, [_c.sent()]).toEqual({ code: 0, signal: null });
                    lines = (0, helpers_js_1.readEvents)(events);
                    _loop_1 = function (pid) {
                        var own = lines.filter(function (line) { return line.pid === pid; }).map(function (line) { return line.event; });
                        (0, vitest_1.expect)(own.filter(function (event) { return event === framework.shutdown; }), "worker ".concat(pid, ": ").concat(own.join(', '))).toHaveLength(1);
                        if (pid === started.pid) {
                            (0, vitest_1.expect)(own).toContain('slow-end');
                            (0, vitest_1.expect)(own.indexOf('slow-end')).toBeLessThan(own.indexOf(framework.shutdown));
                        }
                    };
                    for (_b = 0, workers_3 = workers; _b < workers_3.length; _b++) {
                        pid = workers_3[_b];
                        _loop_1(pid);
                    }
                    (0, vitest_1.expect)(kp.log()).not.toMatch(/\[ERROR\]/);
                    return [2 /*return*/];
            }
        });
    }); });
});
