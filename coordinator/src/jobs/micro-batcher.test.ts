import { describe, expect, it } from "vitest";
import { createMicroBatcher } from "./micro-batcher";

describe("micro-batcher", () => {
  it("sends items that arrive while a batch runs together in the next batch, in order", async () => {
    const batches: number[][] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const double = createMicroBatcher(async (items: number[]) => {
      batches.push(items);
      if (batches.length === 1) await gate;
      return items.map((n) => n * 2);
    });
    const first = double(1);
    await new Promise((r) => setImmediate(r));
    const rest = [double(2), double(3), double(4)];
    release();
    expect(await Promise.all([first, ...rest])).toEqual([2, 4, 6, 8]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it("rejects every item of a batch that throws, and keeps working after", async () => {
    let fail = true;
    const run = createMicroBatcher(async (items: string[]) => {
      if (fail) throw new Error("down");
      return items;
    });
    await expect(Promise.all([run("a"), run("b")])).rejects.toThrow("down");
    fail = false;
    expect(await run("c")).toBe("c");
  });
});
