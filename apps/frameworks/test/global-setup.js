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
exports.default = setup;
var fixtures_js_1 = require("./fixtures.js");
/**
 * vitest's global setup: install the fixture apps (in parallel: mostly waiting on the registry),
 * then build them one at a time (the builds are CPU-bound). Both are skipped when up to date.
 */
function setup() {
    return __awaiter(this, void 0, void 0, function () {
        var started, installed, built, _i, FIXTURES_1, fixture, names;
        return __generator(this, function (_a) {
            switch (_a.label) {
                case 0:
                    started = Date.now();
                    return [4 /*yield*/, Promise.all(fixtures_js_1.FIXTURES.map(fixtures_js_1.install))];
                case 1:
                    installed = _a.sent();
                    built = [];
                    _i = 0, FIXTURES_1 = fixtures_js_1.FIXTURES;
                    _a.label = 2;
                case 2:
                    if (!(_i < FIXTURES_1.length)) return [3 /*break*/, 5];
                    fixture = FIXTURES_1[_i];
                    return [4 /*yield*/, (0, fixtures_js_1.build)(fixture)];
                case 3:
                    if (_a.sent())
                        built.push(fixture.name);
                    _a.label = 4;
                case 4:
                    _i++;
                    return [3 /*break*/, 2];
                case 5:
                    names = fixtures_js_1.FIXTURES.filter(function (_, i) { return installed[i]; }).map(function (f) { return f.name; });
                    console.log("fixtures: installed ".concat(names.join(', ') || 'none', "; built ").concat(built.join(', ') || 'none', " (").concat(Math.round((Date.now() - started) / 1000), " s)"));
                    return [2 /*return*/];
            }
        });
    });
}
