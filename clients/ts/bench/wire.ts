// Bytes on the wire per record and acknowledgement latency, TS device -> the real Python
// relay, per transport: Connect JSON and binary (HTTP/1.1, HTTP/2) and gRPC-Web on the
// HTTP face, gRPC on the gRPC port. Every byte is counted by a TCP proxy between client
// and relay (HTTP headers, framing and all, both directions); no TLS (loopback).

import { createConnection, createServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";

import type { Transport as RpcTransport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";

import { ConnectRelayTransport } from "../src/connect/transport.js";
import { Device } from "../src/device.js";
import { MemoryStore } from "../src/store.js";
import { issueTokens, type RunningRelay } from "../test/web/python-relay.js";

/** A TCP proxy to `port` on loopback counting the bytes each way. */
async function countingProxy(port: number): Promise<{ server: Server; port: number; up: () => number; down: () => number; reset: () => void }> {
  let up = 0;
  let down = 0;
  const server = createServer((client) => {
    const relay = createConnection(port, "127.0.0.1");
    // No Nagle here: the proxy must not delay a small write the endpoints sent at once.
    client.setNoDelay(true);
    relay.setNoDelay(true);
    client.on("data", (d) => void (up += d.length));
    relay.on("data", (d) => void (down += d.length));
    client.pipe(relay);
    relay.pipe(client);
    const end = () => {
      client.destroy();
      relay.destroy();
    };
    client.on("error", end).on("close", end);
    relay.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    up: () => up,
    down: () => down,
    reset: () => void ((up = 0), (down = 0)),
  };
}

export interface WireFigures {
  readonly transport: string;
  /** Request + response bytes per record, one record per call (an app syncing each entry). */
  readonly bytesPerRecordSingle: number;
  /** The same in batches of 100 (a phone catching up after a week offline). */
  readonly bytesPerRecordBatched: number;
  readonly ackMedianMs: number;
  readonly ackP90Ms: number;
}

const MODES: { name: string; port: "http" | "grpc"; make: (url: string) => RpcTransport }[] = [
  { name: "Connect JSON, HTTP/1.1", port: "http", make: (u) => createConnectTransport({ baseUrl: u, httpVersion: "1.1", useBinaryFormat: false }) },
  { name: "Connect binary, HTTP/1.1", port: "http", make: (u) => createConnectTransport({ baseUrl: u, httpVersion: "1.1", useBinaryFormat: true }) },
  { name: "Connect binary, HTTP/2", port: "http", make: (u) => createConnectTransport({ baseUrl: u, httpVersion: "2", useBinaryFormat: true }) },
  { name: "gRPC-Web binary, HTTP/1.1", port: "http", make: (u) => createGrpcWebTransport({ baseUrl: u, httpVersion: "1.1", useBinaryFormat: true }) },
  { name: "gRPC (grpcio port), HTTP/2", port: "grpc", make: (u) => createGrpcTransport({ baseUrl: u }) },
];

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

/** Per mode: `records` single-record submits and `records` in batches of 100 through the
 *  counting proxy (bytes), and `records` single-record submits straight to the relay
 *  (ack latency: no proxy in the way). */
export async function wireBench(relay: RunningRelay, records = 200): Promise<WireFigures[]> {
  const out: WireFigures[] = [];
  for (const mode of MODES) {
    const proxy = await countingProxy(mode.port === "http" ? relay.httpPort : relay.grpcPort);
    try {
      const transport = new ConnectRelayTransport(mode.make(`http://127.0.0.1:${proxy.port}`));
      const [ta, tb] = await issueTokens(relay, [`bench-${mode.name}-a`, `bench-${mode.name}-b`]);
      const direct = new ConnectRelayTransport(mode.make(`http://127.0.0.1:${mode.port === "http" ? relay.httpPort : relay.grpcPort}`));
      const [tc] = await issueTokens(relay, [`bench-${mode.name}-c`]);
      const single = await Device.create(new MemoryStore());
      const batched = await Device.create(new MemoryStore());
      const timed = await Device.create(new MemoryStore());
      await single.enroll(transport, ta!);
      await batched.enroll(transport, tb!);
      await timed.enroll(direct, tc!);
      for (let i = 0; i < records; i++) {
        const entry = JSON.stringify({ date: "2026-12-01", slept_h: 7.5, quality: 4, n: i });
        await single.append(entry);
        await batched.append(entry);
        await timed.append(entry);
      }
      proxy.reset();
      for (const [i, r] of single.unsent().entries()) {
        if ((await transport.submit(BigInt(i + 1), [r])).acks.length !== 1) throw new Error(`${mode.name}: no ack`);
      }
      const singleBytes = proxy.up() + proxy.down();
      const latencies: number[] = [];
      for (const [i, r] of timed.unsent().entries()) {
        const t = performance.now();
        const a = await direct.submit(BigInt(i + 1), [r]);
        latencies.push(performance.now() - t);
        if (a.acks.length !== 1) throw new Error(`${mode.name}: no ack`);
      }
      proxy.reset();
      const rest = batched.unsent();
      for (let i = 0; i < rest.length; i += 100) await transport.submit(BigInt(i + 1), rest.slice(i, i + 100));
      out.push({
        transport: mode.name,
        bytesPerRecordSingle: singleBytes / records,
        bytesPerRecordBatched: (proxy.up() + proxy.down()) / records,
        ackMedianMs: quantile(latencies, 0.5),
        ackP90Ms: quantile(latencies, 0.9),
      });
    } finally {
      proxy.server.close();
    }
  }
  return out;
}
