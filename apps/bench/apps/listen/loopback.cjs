// Preloaded (`--require`) into the sides that let the app bind for itself, PM2 and node:cluster:
// a listen() on a port without a host gets 127.0.0.1 (nothing the bench starts is reachable from
// other machines; an app's own listen(PORT) would bind every interface), and each instance
// prints `listening: instance <pid> on <address>:<port>` once it listens, which the bench waits
// for. It runs once per listen() call, never per request. kelpie needs neither: it serves the
// app's server on its own loopback bind. Watt is given the host in its config.
const net = require('node:net');

const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const [port, host] = args;
  if ((typeof port === 'number' || /^\d+$/.test(String(port))) && typeof host !== 'string') {
    args.splice(1, 0, '127.0.0.1');
  }
  this.once('listening', () => {
    const bound = this.address() ?? {};
    console.log(`listening: instance ${process.pid} on ${bound.address}:${bound.port}`);
  });
  return listen.apply(this, args);
};
