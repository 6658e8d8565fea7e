// Test app: /slow answers after 300 ms, anything else at once.
export default function app(req, res) {
  if (req.url === '/slow') setTimeout(() => res.end('slow'), 300);
  else res.end('fast');
}
