// Run by run.mjs with the node binary under test; prints { version, reusePort } as JSON.
// reusePort: whether two sockets can bind one port with listen({ reusePort: true })
// (Node >= 22.12 and >= 23.1; older versions ignore the option, so the second bind fails).
import net from 'node:net';

function listen(port) {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', reusePort: true }, () => resolve(server));
  });
}

const first = await listen(0);
const second = await listen(first.address().port).catch(() => null);
second?.close();
first.close();
console.log(JSON.stringify({ version: process.version, reusePort: second !== null }));
