// The bench's Express 5 app as its docs start one: CommonJS, a route, then app.listen() on PORT.
// server.js is run unchanged by every side of the listen-express scenarios (kelpie, PM2,
// node:cluster, Watt); export.js is the same app exported instead, what kelpie serves as the
// reference. src/listen-app.test.ts keeps the two the same but for their last line. /hello
// answers what the other bench apps' /hello answers.
const express = require('express');

const app = express();

app.get('/hello', (_req, res) => {
  res.type('text/plain').send('Hello, World!\n');
});

app.listen(process.env.PORT || 3000);
