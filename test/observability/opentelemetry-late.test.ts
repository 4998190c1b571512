import { trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, describe, expect, it } from "vitest";
import { RedisSessions } from "../../src/index.js";
import { redisUrl, uniqueNamespace } from "../helpers/context.js";

// A file of its own: it needs a process where no SDK was registered yet.
describe("OpenTelemetry: a tracer SDK registered after the store was made", () => {
  const namespace = uniqueNamespace("otell");
  const store = new RedisSessions({ redis: redisUrl(), namespace, wipe: 0 });
  afterAll(() => store.quit());

  it("makes no span before it and traces every operation after it", async () => {
    const { token } = await store.create({ app: "shop", id: "erin", ip: "10.3.3.3" });
    const spans = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
    );
    try {
      await store.get({ app: "shop", token });
      await store.kill({ app: "shop", token });
      expect(spans.getFinishedSpans().map((s) => s.name)).toEqual(["ers.get", "ers.kill"]);
    } finally {
      trace.disable();
    }
  });
});
