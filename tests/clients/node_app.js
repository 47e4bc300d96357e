// A Node.js app profiled by the real Pyroscope SDK (npm: @pyroscope/nodejs), for tests/clients.rs.
//
//   NODE_PATH=ops/.clients/node/node_modules node node_app.js SERVER_URL APP_NAME SECONDS
//
// Wall profiling (with CPU time) and heap profiling, a `region` tag, a 2 s flush interval.
// Burns CPU in burnCpuFlamestream in 100 ms slices (the SDK's flush timer needs the event loop
// now and then) and keeps some allocations alive so the heap profile has samples, then stops
// the SDK, which uploads the last wall profile. @pyroscope/nodejs 0.6.4 uploads every profile
// to /ingest?format=pprof as a raw gzipped pprof body.
'use strict';

const Pyroscope = require('@pyroscope/nodejs');

const [server, app, seconds] = process.argv.slice(2);
if (!server || !app || !seconds) {
  console.error('usage: node node_app.js SERVER_URL APP_NAME SECONDS');
  process.exit(2);
}

const kept = [];

function burnCpuFlamestream(ms) {
  const end = Date.now() + ms;
  let x = 0;
  while (Date.now() < end) {
    for (let i = 0; i < 10000; i++) {
      x += Math.sqrt(x + i);
    }
    if (kept.length < 20000) {
      kept.push(new Array(64).fill(x));
    }
  }
  return x;
}

async function main() {
  Pyroscope.init({
    serverAddress: server,
    appName: app,
    tags: { region: 'test-region' },
    flushIntervalMs: 2000,
    heap: { samplingIntervalBytes: 16 * 1024 },
    wall: { collectCpuTime: true },
  });
  Pyroscope.start();
  const end = Date.now() + Number(seconds) * 1000;
  while (Date.now() < end) {
    burnCpuFlamestream(100);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Pyroscope.stop();
  console.log(`node app done, ${kept.length} arrays kept`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
