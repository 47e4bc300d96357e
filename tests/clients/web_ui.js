// Drives flamestream's web page in headless Chromium (Debian's, through playwright-core) the way
// a user does, and prints what it saw as one JSON line for tests/clients.rs to check:
//
//   node web_ui.js BASE_URL APP PROFILE_TYPE SCREENSHOT.png
//
// 1. opens BASE_URL/#app=APP&type=PROFILE_TYPE and waits for the summary line;
// 2. reads the app and type pickers and the frames the flame graph drew;
// 3. hovers the widest frame below the root and reads the tooltip;
// 4. clicks a frame to zoom in, reads which frames are drawn, then clicks "Reset zoom";
// 5. saves a screenshot (for a human to look at when the test fails), also after an error.
const { chromium } = require('playwright-core');

const [base, app, type, shot] = process.argv.slice(2);
if (!shot) {
  console.error('usage: node web_ui.js BASE_URL APP PROFILE_TYPE SCREENSHOT.png');
  process.exit(2);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.FLAMESTREAM_TEST_CHROMIUM || '/usr/bin/chromium',
    // No sandbox as root; no background traffic on a machine without internet.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const out = { consoleErrors: [] };
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  try {
    page.on('console', (m) => { if (m.type() === 'error') out.consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => out.consoleErrors.push(String(e)));
    const hash = new URLSearchParams({ app, type }).toString();
    await page.goto(`${base}/#${hash}`);
    await page.waitForFunction(() => document.getElementById('summary').textContent.includes('total'),
      null, { timeout: 20000 });
    out.summary = await page.textContent('#summary');
    out.apps = await page.$$eval('#app option', (os) => os.map((o) => o.value));
    out.selectedApp = await page.inputValue('#app');
    out.types = await page.$$eval('#ptype option', (os) => os.map((o) => o.value));
    out.selectedType = await page.inputValue('#ptype');

    // What the canvas drew: the page keeps the laid-out frames in `laid` (name, position, size).
    const drawn = () => page.evaluate(() => laid.filter((n) => n.pw >= 0.5)
      .map((n) => ({ name: n.name, depth: n.depth, x: n.px, y: n.py, w: n.pw })));
    const before = await drawn();
    out.drawnBefore = before.map((n) => n.name);
    const box = await page.locator('#flame').boundingBox();

    // Hover the widest frame below the root.
    const widest = before.filter((n) => n.depth > 0).sort((a, b) => b.w - a.w || b.depth - a.depth)[0];
    await page.mouse.move(box.x + widest.x + widest.w / 2, box.y + widest.y + 9);
    await page.waitForFunction(() => getComputedStyle(document.getElementById('tip')).display === 'block',
      null, { timeout: 10000 });
    out.hovered = widest.name;
    out.tooltip = await page.textContent('#tip');
    out.tooltipVisible = await page.isVisible('#tip');

    // Click the widest frame that has a sibling (so the zoom visibly drops the sibling).
    const byDepth = {};
    for (const n of before) (byDepth[n.depth] = byDepth[n.depth] || []).push(n);
    const target = before.filter((n) => n.depth > 0 && byDepth[n.depth].length > 1)
      .sort((a, b) => b.w - a.w)[0];
    await page.mouse.click(box.x + target.x + target.w / 2, box.y + target.y + 9);
    out.zoomedInto = target.name;
    out.zoomState = await page.evaluate(() => (zoom ? zoom.name : null));
    const after = await drawn();
    out.zoomedWidth = Math.max(...after.filter((n) => n.name === target.name && n.depth === target.depth).map((n) => n.w));
    out.canvasWidth = box.width;
    out.drawnAfterZoom = after.map((n) => n.name);
    await page.click('#reset');
    out.zoomAfterReset = await page.evaluate(() => (zoom ? zoom.name : null));
    out.drawnAfterReset = (await drawn()).length;
  } finally {
    await page.screenshot({ path: shot }).catch((e) => console.error(`no screenshot: ${e}`));
    await browser.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
