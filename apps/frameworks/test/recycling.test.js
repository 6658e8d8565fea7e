"use strict";
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
// Workers replaced under a bounded load (loopback, at most 60 s and a few thousand requests per
// loop) while the app is a framework's production entry that called its own listen(): no request
// may fail, and each retired worker runs the app's shutdown hook once.
var RECYCLED = frameworks_js_1.FRAMEWORKS.filter(function (f) { return f.entry === 'dist/main.js' || f.fixture === 'next'; });
var running = [];
(0, vitest_1.afterEach)(function () { return __awaiter(void 0, void 0, void 0, function () {
    var _i, _a, served;
    return __generator(this, function (_b) {
        switch (_b.label) {
            case 0: return [4 /*yield*/, (0, testkit_1.stopAll)()];
            case 1:
                _b.sent();
                for (_i = 0, _a = running.splice(0); _i < _a.length; _i++) {
                    served = _a[_i];
                    served.cleanup();
                }
                return [2 /*return*/];
        }
    });
}); });
function expectNoFailures(stats) {
    (0, vitest_1.expect)(stats.failures, JSON.stringify(stats.outcomes)).toEqual([]);
    (0, vitest_1.expect)(stats.failed).toBe(0);
    (0, vitest_1.expect)(stats.retried).toBe(0);
    (0, vitest_1.expect)(stats.ok).toBeGreaterThan(100);
}
/** Once they are gone, each retired worker wrote its shutdown line exactly once. */
function expectShutdownOnce(served, shutdown, retired) {
    return __awaiter(this, void 0, void 0, function () {
        var lines, _loop_1, _i, retired_1, pid;
        return __generator(this, function (_a) {
            switch (_a.label) {
                case 0: return [4 /*yield*/, (0, testkit_1.waitUntil)(function () { return retired.every(function (pid) { return !(0, testkit_1.processAlive)(pid); }); }, { timeoutMs: 60000, what: 'the workers to exit' })];
                case 1:
                    _a.sent();
                    lines = (0, helpers_js_1.readEvents)(served.events);
                    _loop_1 = function (pid) {
                        var own = lines.filter(function (line) { return line.pid === pid && line.event === shutdown; });
                        (0, vitest_1.expect)(own, "worker ".concat(pid)).toHaveLength(1);
                    };
                    for (_i = 0, retired_1 = retired; _i < retired_1.length; _i++) {
                        pid = retired_1[_i];
                        _loop_1(pid);
                    }
                    return [2 /*return*/];
            }
        });
    });
}
vitest_1.describe.each(RECYCLED.map(function (framework) { return [framework.label, framework]; }))('%s', function (_, framework) {
    (0, vitest_1.it)('HUP under load: new workers take over, no request fails', function () { return __awaiter(void 0, void 0, void 0, function () {
        var served, kp, old, load, from, _a;
        return __generator(this, function (_b) {
            switch (_b.label) {
                case 0: return [4 /*yield*/, (0, helpers_js_1.serve)(framework.fixture, framework.entry)];
                case 1:
                    served = _b.sent();
                    running.push(served);
                    kp = served.kp;
                    old = (0, helpers_js_1.bootedWorkers)(kp);
                    load = (0, testkit_1.startLoad)(kp.url, { path: '/json', maxRequests: 20000, maxMs: 60000 });
                    return [4 /*yield*/, load.after(200)];
                case 2:
                    _b.sent();
                    from = kp.log().length;
                    kp.signal('SIGHUP');
                    return [4 /*yield*/, kp.waitForLog(/Hang up: Master/, { from: from })];
                case 3:
                    _b.sent();
                    return [4 /*yield*/, (0, testkit_1.waitUntil)(function () { return (0, helpers_js_1.bootedWorkers)(kp, from).length >= 2 && old.every(function (pid) { return !(0, testkit_1.processAlive)(pid); }); }, {
                            timeoutMs: 60000,
                            what: 'two new workers and the old two gone',
                        })];
                case 4:
                    _b.sent();
                    return [4 /*yield*/, load.after(200)];
                case 5:
                    _b.sent();
                    _a = expectNoFailures;
                    return [4 /*yield*/, load.stop()];
                case 6:
                    _a.apply(void 0, [_b.sent()]);
                    return [4 /*yield*/, expectShutdownOnce(served, framework.shutdown, old)];
                case 7:
                    _b.sent();
                    return [2 /*return*/];
            }
        });
    }); });
    (0, vitest_1.it)('--max-requests under load: workers are recycled again and again, no request fails', function () { return __awaiter(void 0, void 0, void 0, function () {
        var served, kp, load, _a, recycled;
        return __generator(this, function (_b) {
            switch (_b.label) {
                case 0: return [4 /*yield*/, (0, helpers_js_1.serve)(framework.fixture, framework.entry, ['--max-requests', '150'])];
                case 1:
                    served = _b.sent();
                    running.push(served);
                    kp = served.kp;
                    load = (0, testkit_1.startLoad)(kp.url, { path: '/json', maxRequests: 20000, maxMs: 60000 });
                    return [4 /*yield*/, (0, testkit_1.waitUntil)(function () { return kp.countLog(/Autorestarting worker after current request/) >= 4; }, {
                            timeoutMs: 60000,
                            what: 'four recycled workers',
                        })];
                case 2:
                    _b.sent();
                    _a = expectNoFailures;
                    return [4 /*yield*/, load.stop()];
                case 3:
                    _a.apply(void 0, [_b.sent()]);
                    recycled = __spreadArray([], kp.log().matchAll(/\[(\d+)\] \[INFO\] Autorestarting worker/g), true).map(function (m) { return Number(m[1]); });
                    return [4 /*yield*/, expectShutdownOnce(served, framework.shutdown, recycled)];
                case 4:
                    _b.sent();
                    return [2 /*return*/];
            }
        });
    }); });
});
