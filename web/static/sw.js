/* Rathaus service worker: serves a councillor's offline copies when the network is gone.
 *
 * What it does NOT do: it never stores responses while browsing. Copies are made only on request
 * ("Offline verfügbar machen", web/static/js/offline.js) from an access-checked list, into caches
 * named per account and meeting ("rathaus-offline-a<account>-m<meeting>"). The meta entry (in
 * "rathaus-offline-meta") records the account signed in on this browser and each cache's expiry.
 *
 * Online, every request goes to the network untouched. Only when the network fails does the worker
 * look into the caches of the account recorded in the meta entry, so one person's copies are never
 * served to another. Expired caches (the meeting's day has passed) and caches of any other account are
 * deleted on activation, on every navigation and on the page's "sync" message. Logout clears
 * everything (Clear-Site-Data on /abmelden, and offline.js on the next anonymous page).
 */
"use strict";

const PREFIX = "rathaus-offline-";
const META_CACHE = "rathaus-offline-meta";
const META_URL = "/__rathaus_offline_meta__";
/** Only these can have offline copies; every other request (live streams, SSE, forms) is left alone. */
const OFFLINE_PATHS = /^\/(arbeitsbereich(\/.*)?|dokumente\/\d+\/datei|static\/.+)$/;

async function readMeta() {
  try {
    const cache = await caches.open(META_CACHE);
    const res = await cache.match(META_URL);
    if (!res) return { account: null, caches: {} };
    const meta = await res.json();
    return { account: meta.account ?? null, caches: meta.caches || {} };
  } catch (e) {
    return { account: null, caches: {} };
  }
}

/** Delete caches that are expired or belong to another account than the one recorded. */
async function sweep() {
  const meta = await readMeta();
  const now = Date.now();
  const mine = meta.account === null ? null : `${PREFIX}a${meta.account}-`;
  let changed = false;
  for (const name of await caches.keys()) {
    if (!name.startsWith(PREFIX) || name === META_CACHE) continue;
    const expires = meta.caches[name] ? Date.parse(meta.caches[name]) : NaN;
    if (mine === null || !name.startsWith(mine) || !(expires > now)) {
      await caches.delete(name);
      if (name in meta.caches) { delete meta.caches[name]; changed = true; }
    }
  }
  if (changed) {
    const cache = await caches.open(META_CACHE);
    await cache.put(META_URL, new Response(JSON.stringify(meta), { headers: { "Content-Type": "application/json" } }));
  }
  return meta;
}

async function fromOffline(request) {
  const meta = await readMeta();
  if (meta.account === null) return undefined;
  const mine = `${PREFIX}a${meta.account}-`;
  const now = Date.now();
  const names = (await caches.keys()).filter(
    (n) => n.startsWith(mine) && Date.parse(meta.caches[n] || "") > now
  );
  for (const opts of [{ ignoreVary: true }, { ignoreVary: true, ignoreSearch: true }]) {
    for (const name of names) {
      const cache = await caches.open(name);
      const hit = await cache.match(request, opts);
      if (hit) return hit;
    }
  }
  return undefined;
}

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => {
  event.waitUntil(sweep().then(() => self.clients.claim()));
});

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "sync") event.waitUntil(sweep());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || !OFFLINE_PATHS.test(url.pathname)) return;
  event.respondWith(
    (async () => {
      try {
        const res = await fetch(request);
        if (request.mode === "navigate") event.waitUntil(sweep());
        return res;
      } catch (err) {
        const hit = await fromOffline(request);
        if (hit) return hit;
        throw err;
      }
    })()
  );
});
