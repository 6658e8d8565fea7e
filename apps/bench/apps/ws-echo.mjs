// The WebSocket echo app kelpie serves with -k ws: every message goes back as it came. HTTP
// requests get "ok" (the bench's readiness check).
export default function app(_req, res) {
  res.end('ok');
}

export const websocket = {
  message(ws, data, isBinary) {
    ws.send(data, { binary: isBinary });
  },
};
