"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
var config_1 = require("vitest/config");
// Each test starts real kelpie processes serving a framework's production build. The global
// setup installs and builds the fixture apps first (minutes on a fresh clone, seconds after).
// Files run one at a time: graceful stops and load loops must not compete for the cores.
exports.default = (0, config_1.defineConfig)({
    test: {
        include: ['test/**/*.test.ts'],
        globalSetup: ['test/global-setup.ts'],
        fileParallelism: false,
        testTimeout: 120000,
        hookTimeout: 120000,
    },
});
