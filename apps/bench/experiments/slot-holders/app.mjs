// GET /big answers 64 MiB in 64 KiB chunks, as fast as the client takes them; anything else "ok".
const CHUNK = Buffer.alloc(64 * 1024, 97);

export default function app(req, res) {
  if (req.url !== '/big') {
    res.end('ok');
    return;
  }
  let left = 1024;
  const pump = () => {
    while (left-- > 0) if (!res.write(CHUNK)) return res.once('drain', pump);
    res.end();
  };
  pump();
}
