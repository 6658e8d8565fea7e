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
Object.defineProperty(exports, "__esModule", { value: true });
var testkit_1 = require("@kelpie/testkit");
var vitest_1 = require("vitest");
var fixtures_js_1 = require("./fixtures.js");
var helpers_js_1 = require("./helpers.js");
// What the frameworks cannot do under kelpie, said plainly.
(0, vitest_1.afterAll)(testkit_1.stopAll);
(0, vitest_1.describe)('Next.js standalone under -k threads', function () {
    (0, vitest_1.it)('is refused at load (server.js calls process.chdir), with an error that names -k async', function () { return __awaiter(void 0, void 0, void 0, function () {
        var kp, _a;
        return __generator(this, function (_b) {
            switch (_b.label) {
                case 0: return [4 /*yield*/, (0, testkit_1.startKelpie)(['-k', 'threads', '-w', '1', '-b', '127.0.0.1:0', '.next/standalone/server.js'], {
                        cwd: (0, fixtures_js_1.fixtureDir)('next'),
                        bin: helpers_js_1.KELPIE_BIN,
                        autoBind: false,
                        waitFor: 'nothing',
                        timeoutMs: 60000,
                        env: { NODE_ENV: undefined, NEXT_TELEMETRY_DISABLED: '1' },
                    })];
                case 1:
                    kp = _b.sent();
                    _a = vitest_1.expect;
                    return [4 /*yield*/, kp.exited(60000)];
                case 2:
                    _a.apply(void 0, [_b.sent()]).toEqual({ code: 4, signal: null });
                    (0, vitest_1.expect)(kp.log()).toMatch(/process\.chdir\(\) is not supported in workers/);
                    (0, vitest_1.expect)(kp.log()).toMatch(/use -k async/);
                    (0, vitest_1.expect)(kp.log()).toMatch(/Reason: App failed to load\./);
                    return [2 /*return*/];
            }
        });
    }); });
});
