// The smallest kelpie app: a Node request listener.
//   kelpie -w 2 hello.js
export default function hello(_req, res) {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('Hello, World!\n');
}
