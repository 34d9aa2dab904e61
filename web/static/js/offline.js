/* Offline copies of a meeting's documents (see web/static/sw.js and web/controllers/offline.py).
 *
 * On every page: the signed-in account is read from <meta name="rathaus-account">. An anonymous page
 * (after logout or an expired session) deletes every offline copy; another account's copies are
 * deleted as well, so a shared browser never holds or serves one councillor's documents to the next.
 * The logout form clears the copies before it is sent (the server adds Clear-Site-Data, too).
 *
 * On the workspace meeting page: the button [data-offline-meeting] (hidden without JavaScript or
 * service worker support) registers the worker, fetches the access-checked list
 * /arbeitsbereich/sitzungen/<id>/offline.json and stores every entry in the cache it names. A
 * response that is not a plain 200 from this site (a redirect to the login page, an error) aborts
 * the copy, so nothing but the documents themselves is ever stored.
 */
"use strict";
(function () {
  const PREFIX = "rathaus-offline-";
  const META_CACHE = "rathaus-offline-meta";
  const META_URL = "/__rathaus_offline_meta__";
  const hasCaches = "caches" in window;
  const metaTag = document.querySelector('meta[name="rathaus-account"]');
  if (!hasCaches || !metaTag) return;
  const account = metaTag.content ? Number(metaTag.content) : null;

  async function readMeta() {
    const res = await (await caches.open(META_CACHE)).match(META_URL);
    if (!res) return { account: null, caches: {} };
    const meta = await res.json();
    return { account: meta.account ?? null, caches: meta.caches || {} };
  }

  async function writeMeta(meta) {
    const body = JSON.stringify(meta);
    await (await caches.open(META_CACHE)).put(META_URL, new Response(body, { headers: { "Content-Type": "application/json" } }));
  }

  async function clearAll() {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX)) await caches.delete(name);
    }
  }

  function tellWorker() {
    if (navigator.serviceWorker && navigator.serviceWorker.controller) {
      navigator.serviceWorker.controller.postMessage({ type: "sync" });
    }
  }

  /** Keep only this account's unexpired copies; record the account for the worker. */
  async function settle() {
    const names = (await caches.keys()).filter((n) => n.startsWith(PREFIX));
    if (account === null) {
      if (names.length) await clearAll();
      tellWorker();
      return;
    }
    if (!names.length) return;
    const meta = await readMeta();
    const mine = `${PREFIX}a${account}-`;
    const now = Date.now();
    for (const name of names) {
      if (name === META_CACHE) continue;
      if (!name.startsWith(mine) || !(Date.parse(meta.caches[name] || "") > now)) {
        await caches.delete(name);
        delete meta.caches[name];
      }
    }
    if (meta.account !== account) {
      meta.account = account;
    }
    await writeMeta(meta);
    tellWorker();
  }

  async function fetchPlain(url) {
    const res = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!res.ok || res.redirected || res.type !== "basic") throw new Error(`${url}: ${res.status}`);
    return res;
  }

  async function makeOffline(button, status) {
    const id = button.dataset.offlineMeeting;
    button.disabled = true;
    status.textContent = button.dataset.msgWorking;
    try {
      await navigator.serviceWorker.register("/sw.js", { scope: "/" });
      await navigator.serviceWorker.ready;
      const manifest = await (await fetchPlain(`/arbeitsbereich/sitzungen/${id}/offline.json`)).json();
      if (manifest.account !== account) throw new Error("account changed");
      const name = manifest.cache;
      if (!name.startsWith(`${PREFIX}a${account}-`)) throw new Error("bad cache name");
      const entries = [];
      for (const url of [...manifest.shell, ...manifest.urls]) entries.push([url, await fetchPlain(url)]);
      await caches.delete(name);
      const cache = await caches.open(name);
      for (const [url, res] of entries) await cache.put(url, res);
      const meta = await readMeta();
      meta.account = account;
      meta.caches[name] = manifest.expires;
      await writeMeta(meta);
      status.textContent = button.dataset.msgDone;
      button.dataset.offlineState = "done";
    } catch (err) {
      status.textContent = button.dataset.msgFailed;
      button.dataset.offlineState = "failed";
    } finally {
      button.disabled = false;
    }
  }

  async function showState(button, status) {
    const meta = await readMeta();
    const name = `${PREFIX}a${account}-m${button.dataset.offlineMeeting}`;
    if (meta.account === account && Date.parse(meta.caches[name] || "") > Date.now() && (await caches.has(name))) {
      status.textContent = button.dataset.msgDone;
      button.dataset.offlineState = "done";
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const ready = settle().catch(() => undefined);
    for (const form of document.querySelectorAll('form[action="/abmelden"]')) {
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        clearAll().catch(() => undefined).finally(() => form.submit());
      }, { once: true });
    }
    if (!("serviceWorker" in navigator) || account === null) return;
    for (const button of document.querySelectorAll("[data-offline-meeting]")) {
      const status = document.getElementById(button.getAttribute("aria-describedby") || "");
      if (!status) continue;
      button.hidden = false;
      ready.then(() => showState(button, status)).catch(() => undefined);
      button.addEventListener("click", () => makeOffline(button, status));
    }
  });
})();
