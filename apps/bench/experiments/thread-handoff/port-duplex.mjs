// Option C's transport: a connection's bytes travel between the main thread and a worker thread
// over a MessagePort. Messages are ArrayBuffers (data, transferred) or the strings 'end'
// (half-close) and 'destroy'. relaySocket() is the main thread's end, PortDuplex the thread's,
// which the thread's http.Server takes as its connection. There is no backpressure: enough for
// small requests and responses, which is all this experiment sends.
import { Duplex } from 'node:stream';
import { MessageChannel } from 'node:worker_threads';

const END = 'end';
const DESTROY = 'destroy';

/** A copy: a Buffer may be a view on a pooled ArrayBuffer, which must not be transferred. */
function toArrayBuffer(buffer) {
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
}

function postData(port, buffer) {
  const data = toArrayBuffer(buffer);
  port.postMessage(data, [data]);
}

/** Relays `socket` over a new MessageChannel; returns the port to transfer to a thread. */
export function relaySocket(socket) {
  const { port1, port2 } = new MessageChannel();
  socket.on('data', (chunk) => postData(port1, chunk));
  socket.on('end', () => port1.postMessage(END));
  // A reset connection also emits 'close', which tells the thread.
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    port1.postMessage(DESTROY);
    port1.close();
  });
  port1.on('message', (message) => {
    if (message === END) socket.end();
    else if (message === DESTROY) socket.destroy();
    else socket.write(Buffer.from(message));
  });
  port1.on('close', () => socket.destroy());
  return port2;
}

/** The thread's end of relaySocket(), with the bits of net.Socket that http.Server calls. */
export class PortDuplex extends Duplex {
  #port;
  #timeoutMs = 0;
  #timer;

  constructor(port, { remoteAddress, remotePort, remoteFamily }) {
    super({ allowHalfOpen: true });
    this.#port = port;
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
    this.remoteFamily = remoteFamily;
    port.on('message', (message) => {
      if (message === END) this.push(null);
      else if (message === DESTROY) this.destroy();
      else {
        this.#touch();
        this.push(Buffer.from(message));
      }
    });
    port.on('close', () => this.destroy());
  }

  _read() {
    // data is pushed as it arrives from the port
  }

  _write(chunk, _encoding, callback) {
    this.#touch();
    postData(this.#port, chunk);
    callback();
  }

  _writev(chunks, callback) {
    this.#touch();
    postData(this.#port, Buffer.concat(chunks.map(({ chunk }) => chunk)));
    callback();
  }

  _final(callback) {
    this.#port.postMessage(END);
    callback();
  }

  _destroy(error, callback) {
    clearTimeout(this.#timer);
    this.#port.postMessage(DESTROY);
    this.#port.close();
    callback(error);
  }

  /** Idle timeout, as on net.Socket: http.Server uses it to close idle keep-alive connections. */
  setTimeout(ms, onTimeout) {
    this.#timeoutMs = ms;
    if (onTimeout) this.once('timeout', onTimeout);
    this.#touch();
    return this;
  }

  #touch() {
    clearTimeout(this.#timer);
    if (this.#timeoutMs > 0 && !this.destroyed) {
      this.#timer = setTimeout(() => this.emit('timeout'), this.#timeoutMs).unref();
    }
  }

  setNoDelay() {
    return this;
  }

  setKeepAlive() {
    return this;
  }

  ref() {
    return this;
  }

  unref() {
    return this;
  }
}
