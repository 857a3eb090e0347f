/** Single changes to a Merkle proof, for tests that a verifier rejects every one of them. */

/** A proof changed in exactly one way, with a description for failure messages. */
export interface ProofMutation {
  readonly description: string;
  readonly proof: Uint8Array[];
}

/** The hash with one bit flipped. */
export function flipBit(hash: Uint8Array, bit: number): Uint8Array {
  const out = Uint8Array.from(hash);
  out[bit >> 3]! ^= 0x80 >> (bit & 7);
  return out;
}

/**
 * Every single-step change of a proof: each bit of each element flipped, each element dropped,
 * an element added at each position, each pair of adjacent different elements swapped.
 */
export function everyProofMutation(proof: readonly Uint8Array[], extra: Uint8Array): ProofMutation[] {
  const mutations: ProofMutation[] = [];
  proof.forEach((element, i) => {
    for (let bit = 0; bit < element.length * 8; bit++) {
      mutations.push({
        description: `bit ${bit} of element ${i} flipped`,
        proof: proof.map((e, j) => (j === i ? flipBit(e, bit) : e)),
      });
    }
    mutations.push({ description: `element ${i} dropped`, proof: proof.filter((_, j) => j !== i) });
  });
  for (let i = 0; i <= proof.length; i++) {
    mutations.push({ description: `element added at ${i}`, proof: [...proof.slice(0, i), extra, ...proof.slice(i)] });
    if (i > 0) {
      mutations.push({
        description: `element ${i - 1} repeated`,
        proof: [...proof.slice(0, i), proof[i - 1]!, ...proof.slice(i)],
      });
    }
  }
  for (let i = 0; i + 1 < proof.length; i++) {
    if (bytesEqual(proof[i]!, proof[i + 1]!)) continue;
    const swapped = [...proof];
    [swapped[i], swapped[i + 1]] = [proof[i + 1]!, proof[i]!];
    mutations.push({ description: `elements ${i} and ${i + 1} swapped`, proof: swapped });
  }
  return mutations;
}

/** Byte equality of two hashes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
