//! Edge-case signatures from "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko):
//! the twelve vectors of its ed25519-speccheck test set (`cases.json` / `cases.txt`,
//! cases 0..11; the message field is hex and is decoded before verifying).
//!
//! For every case this checks that
//! - `verify_raw` gives the verdict our rules prescribe, naming the rule broken: a
//!   non-canonical key encoding is `NonCanonicalKey`, a small-order key `SmallOrderKey`,
//!   a non-canonical R `NonCanonicalR`, s >= L `NonCanonicalS`, and otherwise the ZIP-215
//!   cofactored equation decides, so mixed-order keys and R that verify only cofactored
//!   are accepted;
//! - `verify_raw_batch` agrees with `verify_raw` item by item, in a batch of one and in
//!   batches holding all twelve cases plus valid (and one forged) signatures of our own;
//! - the point classes each case claims (small, mixed or prime order, canonical or not)
//!   hold, and cases 4 and 5 fail a cofactorless verifier, so the expected verdicts rest
//!   on checked facts, not only on the comments.
//!
//! It also checks that the eight small-order points, canonically encoded, are refused
//! by `check_key` as `SmallOrderKey`.

use curve25519_dalek::Scalar;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use ed25519_dalek::{Signer, SigningKey, Verifier};
use meshpay_protocol::Reject;
use meshpay_protocol::record::verify::{Item, check_key, verify_raw, verify_raw_batch};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// What a 32-byte point encoding (the key, or R) decodes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Point {
    /// Canonical encoding of a point of order 1, 2, 4 or 8.
    Small,
    /// Canonical encoding of a point with a torsion component and a prime-order one.
    Mixed,
    /// Canonical encoding of a point of order L.
    PrimeOrder,
    /// Non-canonical encoding (x = 0 with the sign bit set) of a small-order point.
    NonCanonicalSmall,
}

/// One speccheck vector, what it exercises, and our verdict on it.
struct Case {
    /// The message, hex as in the test set.
    msg: &'static str,
    /// The signer key A.
    key: &'static str,
    /// The signature R || s.
    sig: &'static str,
    /// What A is.
    key_point: Point,
    /// What R is.
    r_point: Point,
    /// Our verdict.
    expect: Result<(), Reject>,
}

const CASES: [Case; 12] = [
    // 0: S = 0, small-order A, small-order R. Passes cofactored and cofactorless
    // verification alike; we refuse the small-order key.
    Case {
        msg: "8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6",
        key: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        sig: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a\
              0000000000000000000000000000000000000000000000000000000000000000",
        key_point: Point::Small,
        r_point: Point::Small,
        expect: Err(Reject::SmallOrderKey),
    },
    // 1: 0 < S < L, small-order A, mixed-order R. Passes both equations; we refuse the
    // small-order key.
    Case {
        msg: "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
        key: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        sig: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43\
              a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        key_point: Point::Small,
        r_point: Point::Mixed,
        expect: Err(Reject::SmallOrderKey),
    },
    // 2: 0 < S < L, mixed-order A, small-order R. Passes both equations; a small-order R
    // is allowed, so we accept.
    Case {
        msg: "aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab",
        key: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        sig: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa\
              8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e",
        key_point: Point::Mixed,
        r_point: Point::Small,
        expect: Ok(()),
    },
    // 3: 0 < S < L, mixed-order A, mixed-order R. Passes both equations; accepted.
    Case {
        msg: "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
        key: "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        sig: "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f\
              87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009",
        key_point: Point::Mixed,
        r_point: Point::Mixed,
        expect: Ok(()),
    },
    // 4: 0 < S < L, mixed-order A, mixed-order R, SB != R + kA. Passes only the
    // cofactored equation; ZIP-215 accepts.
    Case {
        msg: "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        key: "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        sig: "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed512\
              5ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09",
        key_point: Point::Mixed,
        r_point: Point::Mixed,
        expect: Ok(()),
    },
    // 5: 0 < S < L, mixed-order A, order-L R, SB != R + kA. Passes the cofactored
    // equation unless the verifier pre-reduces the scalar 8k mod L; ZIP-215 accepts.
    Case {
        msg: "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        key: "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        sig: "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7\
              e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405",
        key_point: Point::Mixed,
        r_point: Point::PrimeOrder,
        expect: Ok(()),
    },
    // 6: S > L, order-L A and R. Would verify with s reduced mod L (malleability); we
    // refuse s >= L.
    Case {
        msg: "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
        key: "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        sig: "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e\
              547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514",
        key_point: Point::PrimeOrder,
        r_point: Point::PrimeOrder,
        expect: Err(Reject::NonCanonicalS),
    },
    // 7: S >> L (top bits set, caught even by a bitwise-only range check), order-L A
    // and R; we refuse s >= L.
    Case {
        msg: "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
        key: "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        sig: "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa1942\
              7e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22",
        key_point: Point::PrimeOrder,
        r_point: Point::PrimeOrder,
        expect: Err(Reject::NonCanonicalS),
    },
    // 8: 0 < S < L, mixed-order A, R a non-canonical encoding of the small-order point
    // (0, -1); verifies if R is re-encoded canonically before hashing. We refuse R.
    Case {
        msg: "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
        key: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        sig: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
              03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f",
        key_point: Point::Mixed,
        r_point: Point::NonCanonicalSmall,
        expect: Err(Reject::NonCanonicalR),
    },
    // 9: as 8, but verifies if R is hashed as sent (not re-encoded). We refuse R.
    Case {
        msg: "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
        key: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        sig: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
              ca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908",
        key_point: Point::Mixed,
        r_point: Point::NonCanonicalSmall,
        expect: Err(Reject::NonCanonicalR),
    },
    // 10: 0 < S < L, A a non-canonical encoding of the small-order point (0, -1),
    // mixed-order R; verifies if A is re-encoded canonically before hashing. The key is
    // both non-canonical and small-order; the encoding is checked first.
    Case {
        msg: "e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b",
        key: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        sig: "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dc\
              a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        key_point: Point::NonCanonicalSmall,
        r_point: Point::Mixed,
        expect: Err(Reject::NonCanonicalKey),
    },
    // 11: as 10, but verifies if A is hashed as sent (not re-encoded). Refused likewise.
    Case {
        msg: "39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f",
        key: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        sig: "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dc\
              a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        key_point: Point::NonCanonicalSmall,
        r_point: Point::Mixed,
        expect: Err(Reject::NonCanonicalKey),
    },
];

/// The canonical encodings of the eight points of order dividing 8.
const SMALL_ORDER: [&str; 8] = [
    // Order 1: the identity (0, 1).
    "0100000000000000000000000000000000000000000000000000000000000000",
    // Order 2: (0, -1).
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    // Order 4: (±sqrt(-1), 0).
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    // Order 8.
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
];

/// A (key, signature, message) triple, owned, for building batches.
struct Owned {
    key: [u8; 32],
    sig: [u8; 64],
    msg: Vec<u8>,
}

impl Owned {
    fn item(&self) -> Item<'_> {
        Item {
            key: &self.key,
            sig: &self.sig,
            prefix: &[],
            msg: &self.msg,
        }
    }

    fn verify(&self) -> Result<(), Reject> {
        verify_raw(&self.key, &self.sig, &self.msg)
    }
}

fn unhex<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).expect("valid hex of the right length");
    out
}

fn case(i: usize) -> Owned {
    let c = &CASES[i];
    Owned {
        key: unhex(c.key),
        sig: unhex(c.sig),
        msg: hex::decode(c.msg).expect("valid hex"),
    }
}

fn cases() -> Vec<Owned> {
    (0..CASES.len()).map(case).collect()
}

/// Valid signatures of our own, from fixed seeds.
fn own_signatures() -> Vec<Owned> {
    (1..=3u8)
        .map(|seed| {
            let sk = SigningKey::from_bytes(&[seed; 32]);
            let msg = format!("speccheck batch filler {seed}").into_bytes();
            Owned {
                key: sk.verifying_key().to_bytes(),
                sig: sk.sign(&msg).to_bytes(),
                msg,
            }
        })
        .collect()
}

fn classify(bytes: &[u8; 32]) -> Point {
    let p = CompressedEdwardsY(*bytes)
        .decompress()
        .expect("every speccheck point decodes");
    let canonical = p.compress().to_bytes() == *bytes;
    match (canonical, p.is_small_order(), p.is_torsion_free()) {
        (true, true, _) => Point::Small,
        (true, false, false) => Point::Mixed,
        (true, false, true) => Point::PrimeOrder,
        (false, true, _) => Point::NonCanonicalSmall,
        (false, false, _) => panic!("no speccheck case has a non-canonical large point"),
    }
}

/// Checks that `batch` gives every item the verdict `verify_raw` gives it.
fn assert_batch_agrees(items: &[Owned], seed: u64, what: &str) -> Vec<Result<(), Reject>> {
    let batch: Vec<Item<'_>> = items.iter().map(Owned::item).collect();
    let got = verify_raw_batch(&batch, &mut ChaCha20Rng::seed_from_u64(seed));
    assert_eq!(got.len(), items.len(), "{what}: one verdict per item");
    for (i, (item, verdict)) in items.iter().zip(&got).enumerate() {
        assert_eq!(*verdict, item.verify(), "{what}: item {i}, batch vs single");
    }
    got
}

#[test]
fn case_descriptions_hold() {
    for (i, c) in CASES.iter().enumerate() {
        let o = case(i);
        assert_eq!(o.msg.len(), 32, "case {i}: message length");
        let r: [u8; 32] = o.sig[..32].try_into().unwrap();
        assert_eq!(classify(&o.key), c.key_point, "case {i}: A");
        assert_eq!(classify(&r), c.r_point, "case {i}: R");
    }
}

#[test]
fn cases_4_and_5_verify_only_cofactored() {
    // A cofactorless verifier (ed25519-dalek's `verify`) accepts 2 and 3 but refuses 4
    // and 5; the cofactored ZIP-215 equation accepts all four.
    for (i, cofactorless) in [(2, true), (3, true), (4, false), (5, false)] {
        let o = case(i);
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&o.key).expect("a curve point");
        let sig = ed25519_dalek::Signature::from_bytes(&o.sig);
        assert_eq!(vk.verify(&o.msg, &sig).is_ok(), cofactorless, "case {i}");
        assert_eq!(o.verify(), Ok(()), "case {i}");
    }
}

#[test]
fn single_verdicts() {
    for (i, c) in CASES.iter().enumerate() {
        assert_eq!(case(i).verify(), c.expect, "case {i}");
    }
}

#[test]
fn batch_of_one_agrees_with_single() {
    for (i, c) in CASES.iter().enumerate() {
        let got = assert_batch_agrees(&[case(i)], i as u64, &format!("case {i} alone"));
        assert_eq!(got, std::slice::from_ref(&c.expect), "case {i} alone");
    }
}

#[test]
fn mixed_batches_agree_with_single() {
    let own = own_signatures();
    for (j, o) in own.iter().enumerate() {
        assert_eq!(o.verify(), Ok(()), "own signature {j}");
    }
    let expected: Vec<Result<(), Reject>> = CASES.iter().map(|c| c.expect.clone()).collect();

    // All twelve cases, then our valid signatures: every queued item is valid, so the
    // batch equation itself (with its random coefficients) must accept cases 2 to 5.
    let mut items = cases();
    items.extend(own_signatures());
    for seed in 0..4 {
        let got = assert_batch_agrees(&items, 100 + seed, "cases + own");
        assert_eq!(got[..12], expected[..], "cases + own, seed {seed}");
        assert!(got[12..].iter().all(Result::is_ok), "own signatures");
    }

    // Reversed, with our signatures first.
    let mut items = own_signatures();
    items.extend(cases().into_iter().rev());
    let got = assert_batch_agrees(&items, 200, "own + cases reversed");
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(got[3..], reversed[..], "own + cases reversed");

    // Plus a forgery (a valid signature moved onto another message), so the batch
    // equation fails and every queued item is judged on its own.
    let mut items = cases();
    items.extend(own_signatures());
    let mut forged = own_signatures().remove(0);
    forged.msg.push(b'!');
    items.push(forged);
    let got = assert_batch_agrees(&items, 300, "cases + own + forgery");
    assert_eq!(got[..12], expected[..], "cases + own + forgery");
    assert!(got[12..15].iter().all(Result::is_ok), "own signatures");
    assert_eq!(got[15], Err(Reject::BadSignature), "forgery");
}

#[test]
fn small_order_keys_are_refused() {
    // The table is exactly the multiples of an order-8 point.
    let t: EdwardsPoint = CompressedEdwardsY(unhex(SMALL_ORDER[4]))
        .decompress()
        .expect("a curve point");
    let mut multiples: Vec<[u8; 32]> = (0..8u8)
        .map(|k| (t * Scalar::from(k)).compress().to_bytes())
        .collect();
    let mut table: Vec<[u8; 32]> = SMALL_ORDER.iter().map(|s| unhex(s)).collect();
    multiples.sort();
    table.sort();
    assert_eq!(table, multiples, "the eight small-order points");

    for s in SMALL_ORDER {
        let key: [u8; 32] = unhex(s);
        assert_eq!(check_key(&key), Err(Reject::SmallOrderKey), "{s}");
    }
}
