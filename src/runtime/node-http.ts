// node:http and node:https as their CommonJS objects. An ESM import of a builtin evaluates every export,
// and node:http's WebSocket, CloseEvent and MessageEvent getters load undici and http2, code the operator
// never runs: measured in the idle operator, 1.4 MB of heap and about 2 MB of resident memory.
// Types come from `import type`, which is erased.
export const http = process.getBuiltinModule('node:http');
export const https = process.getBuiltinModule('node:https');
