// TLS between the transport and mosquitto, with a throwaway CA, server and client certificates
// made by openssl in a temp folder: certificate and host name checks are on by default, a broker
// the client cannot verify is refused with E_BROKER naming the cause, a client certificate is
// presented when the broker requires one.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { fail } from "../../sdk/errors.js";
import { connectMqtt, type MqttOptions } from "../../sdk/transport/mqtt.js";
import { freePort, mosquittoSkipReason, startMosquitto, type MosquittoHandle } from "../support/brokers.js";
import { Inbox } from "../support/inbox.js";
import { stayRoot, tempDir } from "./support.js";

/** Why the TLS tests cannot run here; under CI=true a missing tool fails the run instead. */
function skipReason(): string | false {
  const mosquitto = mosquittoSkipReason();
  if (mosquitto !== undefined) return mosquitto;
  if (spawnSync("openssl", ["version"]).status === 0) return false;
  const reason = "openssl is not installed (apt-get install openssl)";
  if (process.env.CI === "true") throw fail("E_TOOL_MISSING", `${reason}; CI=true requires it`);
  return reason;
}

const SKIP = skipReason();

const OPENSSL_CNF = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = edgecut test
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
`;

function openssl(dir: string, args: string[]): void {
  const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stderr}`);
}

/** A P-256 key and a certificate for it: self-signed (a CA) or signed by `ca`. */
function makeCert(dir: string, name: string, cn: string, ext: "ca_ext" | "server_ext" | "client_ext", ca?: string): { cert: string; key: string } {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  const keyArgs = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-config", "openssl.cnf", "-subj", `/CN=${cn}`];
  if (ca === undefined) {
    openssl(dir, ["req", "-x509", "-new", ...keyArgs, "-out", cert, "-days", "2", "-extensions", ext]);
  } else {
    const csr = path.join(dir, `${name}.csr`);
    openssl(dir, ["req", "-new", ...keyArgs, "-out", csr]);
    openssl(dir, ["x509", "-req", "-in", csr, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-set_serial", `0x${Date.now().toString(16)}${name.length}`,
      "-out", cert, "-days", "2", "-extfile", "openssl.cnf", "-extensions", ext]);
  }
  return { cert, key };
}

describe("TLS to mosquitto", { skip: SKIP }, () => {
  let dir: string;
  let broker: MosquittoHandle;
  let caPem: string;
  let wrongCaPem: string;
  let client: { cert: string; key: string };
  let ports: { clientCert: number; otherHost: number };

  before(async () => {
    dir = tempDir("tls");
    fs.writeFileSync(path.join(dir, "openssl.cnf"), OPENSSL_CNF);
    const ca = makeCert(dir, "ca", "edgecut test CA", "ca_ext");
    makeCert(dir, "wrong-ca", "some other CA", "ca_ext");
    const server = makeCert(dir, "server", "localhost", "server_ext", "ca");
    const c = makeCert(dir, "client", "pi-001", "client_ext", "ca");
    caPem = fs.readFileSync(ca.cert, "utf8");
    wrongCaPem = fs.readFileSync(path.join(dir, "wrong-ca.crt"), "utf8");
    client = { cert: fs.readFileSync(c.cert, "utf8"), key: fs.readFileSync(c.key, "utf8") };
    ports = { clientCert: await freePort(), otherHost: await freePort() };
    const tls = [`certfile ${server.cert}`, `keyfile ${server.key}`];
    broker = await startMosquitto({
      config: [
        // The first listener (startMosquitto's, on 127.0.0.1) with TLS...
        ...tls,
        // ...one that requires a client certificate signed by the CA...
        `listener ${ports.clientCert} 127.0.0.1`, ...tls, `cafile ${ca.cert}`, "require_certificate true",
        // ...and one on another loopback address, which the server certificate does not name.
        `listener ${ports.otherHost} 127.0.0.2`, ...tls,
        ...stayRoot(),
      ],
    });
  });
  after(async () => {
    await broker?.close();
  });

  const url = (port: number, host = "127.0.0.1"): string => `mqtts://${host}:${port}`;
  const opts = (o: Partial<MqttOptions> & { url: string }): MqttOptions => ({ reconnectPeriodMs: 0, connectTimeoutMs: 3000, ...o });

  test("with the CA: connects over TLS and messages flow", async () => {
    const t = await connectMqtt(opts({ url: url(broker.port), ca: caPem }));
    try {
      const inbox = new Inbox();
      await t.subscribe("tls/check", inbox.handler);
      await t.publish("tls/check", new TextEncoder().encode("over tls"));
      const [m] = await inbox.waitFor(1);
      assert.equal(new TextDecoder().decode(m!.payload), "over tls");
    } finally {
      await t.close();
    }
  });

  test("without the CA (checks on by default): E_BROKER naming the untrusted certificate and the fix", async () => {
    await assert.rejects(connectMqtt(opts({ url: url(broker.port) })), (e: Error & { code?: string }) => {
      assert.equal(e.code, "E_BROKER");
      assert.match(e.message, /mqtts:\/\/127\.0\.0\.1/);
      assert.match(e.message, /certificate/);
      assert.match(e.message, /broker\.ca|MqttOptions\.ca/);
      return true;
    });
  });

  test("with another CA: refused", async () => {
    await assert.rejects(connectMqtt(opts({ url: url(broker.port), ca: wrongCaPem })), { code: "E_BROKER", message: /certificate.*not signed by a CA this client trusts/ });
  });

  test("a certificate that does not name the host: refused, the mismatch named", async () => {
    await assert.rejects(connectMqtt(opts({ url: url(ports.otherHost, "127.0.0.2"), ca: caPem })), { code: "E_BROKER", message: /127\.0\.0\.2.*does not match.*subjectAltName/ });
  });

  test("rejectUnauthorized: false (debugging only) is what it takes to skip the checks", async () => {
    const t = await connectMqtt(opts({ url: url(broker.port), rejectUnauthorized: false }));
    await t.close();
  });

  test("a broker that requires a client certificate: refused without one, accepted with one signed by its CA", async () => {
    await assert.rejects(connectMqtt(opts({ url: url(ports.clientCert), ca: caPem })), { code: "E_BROKER", message: /TLS handshake failed: .*certificate.*wants a client certificate/ });
    const t = await connectMqtt(opts({ url: url(ports.clientCert), ca: caPem, cert: client.cert, key: client.key }));
    await t.close();
  });
});
