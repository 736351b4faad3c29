// Interop peer: npm bcrypt (native), bcryptjs and @node-rs/argon2.
//   node vectors.mjs make    prints [{lib, password, hash}] made by them
//   node vectors.mjs check   reads [{password, hash}] on stdin, prints [bool]
import { readFileSync } from "node:fs";
import bcrypt from "bcrypt";
import bcryptjs from "bcryptjs";
import * as argon2 from "@node-rs/argon2";

const passwords = ["correct horse battery staple", "pässwörd ✓", "long-".repeat(14)];

async function make() {
  const out = [];
  for (const pw of passwords) {
    out.push({ lib: "node bcrypt 2a", password: pw, hash: bcrypt.hashSync(pw, bcrypt.genSaltSync(4, "a")) });
    out.push({ lib: "node bcrypt 2b", password: pw, hash: bcrypt.hashSync(pw, bcrypt.genSaltSync(4, "b")) });
    out.push({ lib: "bcryptjs", password: pw, hash: bcryptjs.hashSync(pw, 4) });
    out.push({ lib: "@node-rs/argon2", password: pw, hash: await argon2.hash(pw, { memoryCost: 1024, timeCost: 1, parallelism: 1 }) });
  }
  return out;
}

async function check(cases) {
  const out = [];
  for (const { password, hash } of cases) {
    if (hash.startsWith("$2")) {
      const native = bcrypt.compareSync(password, hash);
      const js = bcryptjs.compareSync(password, hash);
      if (native !== js) throw new Error(`bcrypt and bcryptjs disagree on ${hash}`);
      out.push(native);
    } else {
      out.push(await argon2.verify(hash, password));
    }
  }
  return out;
}

const mode = process.argv[2];
if (mode === "make") console.log(JSON.stringify(await make()));
else if (mode === "check") console.log(JSON.stringify(await check(JSON.parse(readFileSync(0, "utf8")))));
else {
  console.error("usage: node vectors.mjs make|check");
  process.exit(2);
}
