// The seed's Node server, as a peer in `scripts/compare.sh`: what plain Node (its `http` module,
// no framework) costs for the same `load` workload. Node is the figure the issue of the second
// performance round set as the bar for memory per stream.
//
// As the seed: `GET /events` writes `data: {"count": n}` every second from a timer of its own.
// Added so that `sse-bench load` can drive it like the Rust servers: an `id` on each event,
// the first event at once, `GET /health` with the server's name and its open streams, and the
// first line the servers print. It serves no chat, so it has no fan-out column.
//
//   node crates/sse-bench/peers/node-seed.js --port 0
"use strict";
const http = require("node:http");

const at = process.argv.indexOf("--port");
const port = at > 0 ? Number(process.argv[at + 1]) : 3003;
let open = 0;

const server = http.createServer((req, res) => {
  if (req.url === "/health") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ server: "node", open_streams: open }));
    return;
  }
  if (req.url !== "/events") {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  open += 1;
  let count = 0;
  const send = () => {
    count += 1;
    res.write(`id: ${count}\ndata: ${JSON.stringify({ count })}\n\n`);
  };
  send();
  const timer = setInterval(send, 1000);
  req.on("close", () => {
    clearInterval(timer);
    open -= 1;
  });
});

server.listen(port, "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}/ (node)`);
});
process.on("SIGTERM", () => process.exit(0));
