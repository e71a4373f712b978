// A sleep diary PWA on @hashcore/device: entries are signed records of the device's
// hashchain, stored in IndexedDB before anything else happens, and synced to the relay's
// Connect face whenever the browser is online (and on demand). Everything the app does
// with the protocol is in these ~100 lines; the SDK does the rest.
//
// Configuration comes the way a trial's onboarding QR code would give it: ?relay=URL
// &token=TOKEN (kept in localStorage, so the installed app reopens without them).

import { Device, HashcoreError, IndexedDbStore, Kind, Unavailable, type Record } from "@hashcore/device";
import { connectTransport } from "@hashcore/device/connect";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
for (const key of ["relay", "token"]) {
  const v = params.get(key);
  if (v) localStorage.setItem(`diary.${key}`, v);
}
const relayUrl = localStorage.getItem("diary.relay");
const token = localStorage.getItem("diary.token");

function status(text: string, state: "ok" | "offline" | "error" | "busy"): void {
  const el = $("status");
  el.textContent = text;
  el.dataset["state"] = state;
}

// A phone app would keep the default backoff (8 tries up to 5 s); a page retries briefly
// and syncs again when the browser says it is back online.
const device = await Device.open(new IndexedDbStore("sleep-diary"), {
  retry: { attempts: 2, firstDelayMs: 200, maxDelayMs: 1000, multiplier: 2 },
});
const relay = relayUrl ? connectTransport({ baseUrl: relayUrl, timeoutMs: 10_000 }) : null;

function render(): void {
  const acked = device.sentThrough;
  const list = $("entries");
  list.replaceChildren(
    ...device
      .records()
      .filter((r: Record) => r.kind === Kind.DATA && r.payload !== null)
      .map((r: Record) => {
        const e = JSON.parse(new TextDecoder().decode(r.payload!)) as { date: string; slept_h: number; quality: number };
        const li = document.createElement("li");
        li.dataset["seq"] = String(r.seq);
        li.dataset["acked"] = String(r.seq <= acked);
        li.innerHTML = `${e.date}: ${e.slept_h} h, quality ${e.quality} — <span class="state"></span>`;
        li.querySelector(".state")!.textContent = r.seq <= acked ? "acknowledged" : "waiting to sync";
        return li;
      }),
  );
}

let syncing = false;
async function sync(): Promise<void> {
  if (relay === null || syncing) return;
  syncing = true;
  status("syncing…", "busy");
  try {
    if (!device.enrolled) {
      if (!token) throw new Error("no enrollment token: open the link from the study's QR code");
      await device.enroll(relay, token);
    }
    const r = await device.sync(relay);
    status(`synced: ${device.unsent().length} waiting, acknowledged through #${r.sentThrough}, beacon ${r.beaconSize}`, "ok");
  } catch (e) {
    if (e instanceof Unavailable) status(`offline: ${device.unsent().length} entries wait on this device`, "offline");
    else status(`${e instanceof HashcoreError ? e.code : "error"}: ${(e as Error).message}`, "error");
  } finally {
    syncing = false;
    render();
  }
}

$("date").setAttribute("value", new Date().toISOString().slice(0, 10));
$<HTMLFormElement>("entry").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const entry = {
    date: $<HTMLInputElement>("date").value,
    slept_h: Number($<HTMLInputElement>("hours").value),
    quality: Number($<HTMLInputElement>("quality").value),
  };
  void device.append(JSON.stringify(entry)).then(() => {
    render();
    return sync();
  });
});
$("sync").addEventListener("click", () => void sync());
$("export").addEventListener("click", () => {
  const text = device.exportEvidenceJson();
  const pre = $("evidence");
  pre.textContent = text;
  pre.hidden = false;
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  a.download = "sleep-diary-evidence.json";
  a.click();
});
window.addEventListener("online", () => void sync());
if ("serviceWorker" in navigator) void navigator.serviceWorker.register("./sw.js");

render();
status(relay === null ? "no relay configured (open the study's link)" : "ready", relay === null ? "error" : "ok");
(window as unknown as { diary: object }).diary = { device, sync, ready: true };
void sync();
