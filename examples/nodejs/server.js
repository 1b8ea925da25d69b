// The nodejs example's web process: answers every request on $PORT.
const http = require("http");
const greet = require("ruko-greeting");

const port = Number(process.env.PORT || 5000);
http
  .createServer((request, response) => {
    response.writeHead(200, { "Content-Type": "text/plain" });
    response.end(greet("nodejs example") + "\n");
  })
  .listen(port, "0.0.0.0");
