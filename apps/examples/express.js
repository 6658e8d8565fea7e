// An unmodified Express 5 app: Express apps are (req, res) functions, so kelpie serves them as is.
//   kelpie -w 2 express.js
import express from 'express';

export const app = express();
app.use(express.json());

app.get('/', (_req, res) => {
  res.json({ hello: 'world', pid: process.pid });
});

app.post('/items', (req, res) => {
  res.status(201).json({ created: req.body });
});

app.get('/users/:id', (req, res) => {
  res.json({ id: req.params.id });
});
