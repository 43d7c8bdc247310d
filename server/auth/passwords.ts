/**
 * Password hashing with scrypt (node:crypto). The stored string names its own
 * parameters, so raising the cost later leaves old hashes verifiable.
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

/** log2 of scrypt's N. OWASP's password storage cheat sheet asks for N=2^17, r=8, p=1. */
export const DEFAULT_PASSWORD_COST = 17;
export const MIN_PASSWORD_COST = 10;
export const MIN_PASSWORD_CHARS = 10;
export const MAX_PASSWORD_CHARS = 256;
const R = 8;
const P = 1;
const KEY_BYTES = 32;

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // 128 * N * r bytes of work memory, with room to spare.
    const maxmem = 256 * n * r + 1024 * 1024;
    scrypt(password.normalize("NFKC"), salt, KEY_BYTES, { N: n, r, p, maxmem }, (err, key) => {
      if (err) reject(err);
      else resolve(key);
    });
  });
}

/** "scrypt$<log2 N>$<r>$<p>$<salt b64>$<key b64>", with a fresh 16-byte salt. */
export async function hashPassword(
  password: string,
  cost: number = DEFAULT_PASSWORD_COST,
): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, 2 ** cost, R, P);
  return ["scrypt", cost, R, P, salt.toString("base64"), key.toString("base64")].join("$");
}

/** Constant-time check of `password` against a stored hash; false for any malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [cost, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (!(cost >= MIN_PASSWORD_COST && cost <= 22 && r >= 1 && r <= 32 && p >= 1 && p <= 4)) {
    return false;
  }
  const expected = Buffer.from(parts[5]!, "base64");
  const key = await derive(password, Buffer.from(parts[4]!, "base64"), 2 ** cost, r, p);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** Spend the same time as a real check, so a missing user is not told apart by timing. */
export async function burnPasswordCheck(password: string, cost: number): Promise<void> {
  await derive(password, randomBytes(16), 2 ** cost, R, P);
}

/** Why `password` is refused for `username`, or null when it is acceptable. */
export function passwordProblem(password: string, username: string): string | null {
  if (password.length < MIN_PASSWORD_CHARS) {
    return `Use at least ${MIN_PASSWORD_CHARS} characters.`;
  }
  if (password.length > MAX_PASSWORD_CHARS) {
    return `Use at most ${MAX_PASSWORD_CHARS} characters.`;
  }
  const lower = password.toLowerCase();
  if (COMMON_PASSWORDS.has(lower) || new Set(lower).size <= 2) {
    return "That password is too common; pick another.";
  }
  // What is left without the username must still be long enough on its own.
  if (lower.replaceAll(username.toLowerCase(), "").length < MIN_PASSWORD_CHARS) {
    return "That password is too close to your username.";
  }
  return null;
}

/**
 * Passwords of ten or more characters that top the published breach-frequency lists;
 * shorter ones already fail the length rule.
 */
const COMMON_PASSWORDS = new Set([
  "1234567890",
  "0123456789",
  "12345678910",
  "123456789a",
  "1234567890a",
  "a123456789",
  "1q2w3e4r5t",
  "1q2w3e4r5t6y",
  "1qaz2wsx3edc",
  "qwertyuiop",
  "qwertyuiop123",
  "asdfghjkl1",
  "zxcvbnm123",
  "password12",
  "password123",
  "password1234",
  "password!1",
  "passw0rd123",
  "p@ssw0rd123",
  "iloveyou12",
  "iloveyou123",
  "princess12",
  "sunshine12",
  "football12",
  "baseball12",
  "welcome123",
  "welcome1234",
  "letmein123",
  "trustno1234",
  "dragon1234",
  "monkey1234",
  "abc1234567",
  "abcd123456",
  "abcdefghij",
  "qwerty1234",
  "qwerty12345",
  "qwerty123456",
  "1234qwerty",
  "123qweasdzxc",
  "qazwsxedc123",
  "changeme123",
  "administrator",
  "admin12345",
  "admin123456",
  "superman123",
  "batman12345",
  "starwars123",
  "pokemon123",
  "computer123",
  "internet123",
  "whatever123",
  "chocolate1",
  "basketball",
  "michael123",
  "jennifer123",
  "liverpool1",
  "chelsea123",
  "arsenal123",
  "secret1234",
  "mypassword",
  "mypassword1",
  "newpassword",
  "passwordpassword",
  "9876543210",
  "987654321a",
  "1111111111",
  "1234512345",
  "1212121212",
  "1122334455",
  "0987654321",
  "1231231234",
  "147258369a",
  "1472583690",
  "qwertzuiop",
  "azertyuiop",
  "parley1234",
  "chatpassword",
]);
