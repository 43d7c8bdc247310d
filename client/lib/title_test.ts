import { equal } from "node:assert/strict";
import { titleText } from "./title.ts";

Deno.test("titleText shows unread and mention counts before the name", () => {
  equal(titleText("Parley", 0, 0), "Parley");
  equal(titleText("Parley", 3, 1), "(3) @1 · Parley");
  equal(titleText("Parley", 2, 0), "(2) · Parley");
  equal(titleText("Parley", 1500, 120), "(999+) @99+ · Parley");
});
