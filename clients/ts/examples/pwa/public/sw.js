// The app shell, cached on install and served cache-first, so the diary opens and takes
// entries with no connection at all. Calls to the relay (another origin, POST) pass through.
const CACHE = "sleep-diary-v1";

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(["./", "./index.html", "./manifest.webmanifest"])),
  );
  self.skipWaiting();
});

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  event.respondWith(
    caches.match(event.request, { ignoreSearch: true }).then(
      (hit) =>
        hit ??
        fetch(event.request).then((res) => {
          const copy = res.clone();
          void caches.open(CACHE).then((cache) => cache.put(event.request, copy));
          return res;
        }),
    ),
  );
});
