//! Rateless invertible Bloom lookup tables (Yang, Gilad, Alizadeh, SIGCOMM 2024): the
//! difference-coding stage of reconciliation. A set of short ids becomes an endless
//! stream of coded symbols; a peer holding a similar set peels the difference out of a
//! prefix about 1.4 times as long as the difference, whatever the sets' sizes.

use std::collections::binary_heap::PeekMut;
use std::collections::{BinaryHeap, HashSet, VecDeque};

use super::shortid::{self, ShortIdKey};

/// Coded-symbol indices from here on receive no source symbol: it keeps the exact
/// index arithmetic inside `u128`, and two billion symbols outlast any budget.
pub const MAX_INDEX: u64 = 1 << 31;

/// The index of a mapping that has run past `MAX_INDEX`.
const NEVER: u64 = u64::MAX;

/// Longest count varint: a zigzagged `count - expected` is below 2^66, so 70 bits.
const MAX_VARINT_BYTES: usize = 10;

/// Bytes of a symbol's checksum on the wire.
const CHECKSUM_BYTES: usize = 2;

/// One coded symbol: the sum of the source symbols mapped to its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CodedSymbol {
    /// Source symbols added minus those removed.
    pub count: i64,
    /// XOR of their short ids.
    pub key: u64,
    /// XOR of their checksums.
    pub checksum: u16,
}

impl CodedSymbol {
    /// Whether the symbol holds nothing (or things that cancel).
    pub fn is_zero(&self) -> bool {
        *self == CodedSymbol::default()
    }

    /// Adds (`dir` = 1) or removes (`dir` = -1) one source symbol.
    fn apply(&mut self, key: u64, checksum: u16, dir: i64) {
        // Wrapping: a hostile remote count near the i64 bounds must not panic us; the
        // counts form a group either way.
        self.count = self.count.wrapping_add(dir);
        self.key ^= key;
        self.checksum ^= checksum;
    }

    /// Removes every source symbol of `other`.
    fn subtract(&mut self, other: &CodedSymbol) {
        self.count = self.count.wrapping_sub(other.count);
        self.key ^= other.key;
        self.checksum ^= other.checksum;
    }
}

/// The coded-symbol indices one source symbol maps to: 0, then each index i with
/// probability ρ(i) = 1/(1 + α·i), α = 1/2, drawn from a PRNG seeded by the symbol's
/// mix so that both peers derive the same indices.
#[derive(Debug, Clone, Copy)]
struct Mapping {
    index: u64,
    state: u64,
}

impl Mapping {
    /// A mapping at its first index, 0.
    fn new(seed: u64) -> Self {
        Mapping {
            index: 0,
            state: seed,
        }
    }

    /// Moves to the next index and returns it (`NEVER` past `MAX_INDEX`).
    fn advance(&mut self) -> u64 {
        let r = splitmix64(&mut self.state);
        self.index = next_index(self.index, r);
        self.index
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a small PRNG whose outputs are well mixed even
/// for related seeds, and exactly reproducible.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The next index after `i` for the uniform draw `r`, by inverting the gap distribution.
///
/// With ρ(j) = 2/(j + 2), the chance of skipping all of i+1..=i+k telescopes to
/// Π j/(j+2) = (i+1)(i+2) / ((t)(t+1)) with t = i+k+1. For u = (r+1)/2^64 in (0, 1] the
/// gap is the smallest k ≥ 1 with that chance ≤ u, i.e. the smallest t ≥ i+2 with
/// t(t+1)(r+1) ≥ (i+1)(i+2)·2^64. The answer is defined by that integer inequality, not
/// by floating point, so every platform computes the same index; a float square root
/// only supplies the first guess.
fn next_index(i: u64, r: u64) -> u64 {
    if i >= MAX_INDEX {
        return NEVER;
    }
    let u = u128::from(r) + 1;
    // p < 2^63 because i < 2^31, so the target fits.
    let p = (i + 1) * (i + 2);
    let target = u128::from(p) << 64;
    let reached = |t: u128| match u64::try_from(t) {
        // The common case, in plain arithmetic: t(t+1) < 2^64 and u ≤ 2^64.
        Ok(t) if t < 1 << 32 => u128::from(t * (t + 1)) * u >= target,
        // Overflow means far above the target, so it counts as reached.
        _ => t
            .checked_mul(t + 1)
            .and_then(|x| x.checked_mul(u))
            .is_none_or(|x| x >= target),
    };
    let floor = u128::from(i) + 2;
    // t(t+1) = (t + 1/2)² - 1/4, so t ≈ sqrt(p/u') - 1/2 with u' = u/2^64.
    let guess = (p as f64 * 18_446_744_073_709_551_616.0 / (r as f64 + 1.0)).sqrt() - 0.5;
    let guess = (guess.ceil() as u128).max(floor);
    // Bracket the answer as (lo, hi] with !reached(lo) and reached(hi), galloping away
    // from the guess; then bisect.
    let (mut lo, mut hi);
    if reached(guess) {
        hi = guess;
        let mut step = 1u128;
        loop {
            if hi - floor < step {
                if reached(floor) {
                    return capped(floor - 1);
                }
                lo = floor;
                break;
            }
            let cand = hi - step;
            if reached(cand) {
                hi = cand;
                step *= 2;
            } else {
                lo = cand;
                break;
            }
        }
    } else {
        lo = guess;
        let mut step = 1u128;
        loop {
            let cand = lo + step;
            if reached(cand) {
                hi = cand;
                break;
            }
            lo = cand;
            step *= 2;
        }
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reached(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    capped(hi - 1)
}

/// An index as computed, or `NEVER` from `MAX_INDEX` on.
fn capped(index: u128) -> u64 {
    match u64::try_from(index) {
        Ok(i) if i < MAX_INDEX => i,
        _ => NEVER,
    }
}

/// A source symbol waiting in a window for its next coded symbol.
#[derive(Debug, Clone, Copy)]
struct Pending {
    next: u64,
    state: u64,
    key: u64,
    checksum: u16,
    dir: i8,
}

/// Buckets a fresh window covers: after symbol 0, all but ~2/256² of a set's source
/// symbols land below this.
const WINDOW_START: usize = 256;

/// A window's buckets reach this many times further than the symbol being made, so few
/// moves (about 1/LOOKAHEAD²) jump past them.
const LOOKAHEAD: usize = 4;

/// Most buckets a window keeps, whatever the index: bounds its memory on long streams.
const MAX_BUCKETS: usize = 1 << 16;

/// Source symbols with their mappings, bucketed by next index, so that a coded symbol
/// costs only the source symbols mapped to it. A bucket is a contiguous run swept in
/// order: for a million source symbols this is six times faster than a binary heap alone,
/// whose every move is a chain of cache misses. The few symbols whose next index lies
/// past the buckets wait in a heap until the buckets reach them.
struct Window {
    /// `buckets[k]`: the source symbols whose next index is `base + k`.
    buckets: VecDeque<Vec<Pending>>,
    base: u64,
    far: BinaryHeap<ByNext>,
}

impl Window {
    /// An empty window, at index 0.
    fn new() -> Self {
        let mut buckets = VecDeque::new();
        buckets.resize_with(WINDOW_START, Vec::new);
        Window {
            buckets,
            base: 0,
            far: BinaryHeap::new(),
        }
    }

    /// Adds a source symbol whose next index is `mapping.index`, which must be at least
    /// the next index to be folded.
    fn push(&mut self, mapping: Mapping, key: u64, checksum: u16, dir: i8) {
        self.place(Pending {
            next: mapping.index,
            state: mapping.state,
            key,
            checksum,
            dir,
        });
    }

    fn place(&mut self, p: Pending) {
        if p.next == NEVER {
            return;
        }
        let offset = p.next.saturating_sub(self.base);
        match usize::try_from(offset)
            .ok()
            .and_then(|k| self.buckets.get_mut(k))
        {
            Some(bucket) => bucket.push(p),
            None => self.far.push(ByNext(p)),
        }
    }

    /// Applies every source symbol mapped to `index` to `sym`. Indices must be visited
    /// in increasing order.
    fn fold_into(&mut self, index: u64, sym: &mut CodedSymbol) {
        if index >= MAX_INDEX {
            return;
        }
        // Slide the buckets' start to `index`, keeping their number.
        while self.base < index {
            self.buckets.pop_front();
            self.buckets.push_back(Vec::new());
            self.base += 1;
        }
        let wanted = (index as usize)
            .saturating_mul(LOOKAHEAD)
            .clamp(WINDOW_START, MAX_BUCKETS);
        if self.buckets.len() < wanted {
            self.buckets.resize_with(wanted, Vec::new);
        }
        let end = self.base + self.buckets.len() as u64;
        while let Some(top) = self.far.peek_mut() {
            if top.0.next >= end {
                break;
            }
            let p = PeekMut::pop(top).0;
            self.buckets[(p.next - self.base) as usize].push(p);
        }
        // Taken out, so its symbols can be re-bucketed while it is swept: they all move
        // to later buckets.
        let bucket = std::mem::take(&mut self.buckets[0]);
        for mut p in bucket {
            sym.apply(p.key, p.checksum, i64::from(p.dir));
            let mut m = Mapping {
                index: p.next,
                state: p.state,
            };
            p.next = m.advance();
            p.state = m.state;
            self.place(p);
        }
    }
}

/// Orders `Pending` by next index only, smallest first, for the far heap.
struct ByNext(Pending);

impl PartialEq for ByNext {
    fn eq(&self, other: &Self) -> bool {
        self.0.next == other.0.next
    }
}

impl Eq for ByNext {}

impl PartialOrd for ByNext {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ByNext {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.next.cmp(&self.0.next)
    }
}

/// Streams the coded symbols 0, 1, 2, ... of a set of short ids.
pub struct Encoder {
    items: u64,
    /// Symbol 0 holds every item; summed directly, they need no bucket.
    first: CodedSymbol,
    window: Window,
    produced: u64,
}

impl Encoder {
    /// An encoder over `items`, distinct short ids made by `key`.
    pub fn new(key: &ShortIdKey, items: impl IntoIterator<Item = u64>) -> Self {
        let mut first = CodedSymbol::default();
        let mut window = Window::new();
        for short in items {
            let mix = key.mix(short);
            let checksum = shortid::checksum_of_mix(mix);
            first.apply(short, checksum, 1);
            let mut m = Mapping::new(mix);
            m.advance();
            window.push(m, short, checksum, 1);
        }
        Encoder {
            items: first.count as u64,
            first,
            window,
            produced: 0,
        }
    }

    /// How many short ids the set holds.
    pub fn len(&self) -> u64 {
        self.items
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// The next coded symbol of the stream.
    pub fn next_symbol(&mut self) -> CodedSymbol {
        let index = self.produced;
        self.produced = self.produced.saturating_add(1);
        if index == 0 {
            return self.first;
        }
        let mut sym = CodedSymbol::default();
        self.window.fold_into(index, &mut sym);
        sym
    }

    /// How many coded symbols have been produced.
    pub fn produced(&self) -> u64 {
        self.produced
    }
}

/// Bounds of one decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Coded symbols accepted at most; past this the difference is too large or the
    /// stream is garbage.
    pub max_symbols: u64,
}

/// Why a decoder took no more symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The stream ran past the symbol budget without decoding.
    #[error("coded symbol budget of {max} exhausted")]
    Budget {
        /// The budget.
        max: u64,
    },
}

/// Peels the difference between a remote set, seen as its coded symbols, and ours.
pub struct Decoder {
    key: ShortIdKey,
    max_symbols: u64,
    local: Encoder,
    /// Decoded source symbols, each with the direction that cancels it from later symbols.
    peeled: Window,
    /// Received symbols minus ours, minus what is decoded.
    cells: Vec<CodedSymbol>,
    nonzero: u64,
    remote_only: Vec<u64>,
    local_only: Vec<u64>,
    /// Every short id in `remote_only` and `local_only`.
    decoded: HashSet<u64>,
    /// The stream contradicted itself; peeling stopped for good.
    inconsistent: bool,
    /// Cells to examine for purity.
    queue: Vec<usize>,
}

impl Decoder {
    /// A decoder holding our set `local` of distinct short ids made by `key`.
    pub fn new(
        key: &ShortIdKey,
        local: impl IntoIterator<Item = u64>,
        config: DecoderConfig,
    ) -> Self {
        Decoder {
            key: key.clone(),
            max_symbols: config.max_symbols,
            local: Encoder::new(key, local),
            peeled: Window::new(),
            cells: Vec::new(),
            nonzero: 0,
            remote_only: Vec::new(),
            local_only: Vec::new(),
            decoded: HashSet::new(),
            inconsistent: false,
            queue: Vec::new(),
        }
    }

    /// Takes the remote's next coded symbol and peels what it can.
    ///
    /// A symbol that contradicts the rest is no error: it only keeps the decoder from
    /// finishing (see `is_inconsistent`), until the budget runs out.
    pub fn push(&mut self, remote: CodedSymbol) -> Result<(), DecodeError> {
        if self.received() >= self.max_symbols {
            return Err(DecodeError::Budget {
                max: self.max_symbols,
            });
        }
        let index = self.cells.len();
        let mut cell = remote;
        cell.subtract(&self.local.next_symbol());
        self.peeled.fold_into(index as u64, &mut cell);
        self.cells.push(cell);
        if !cell.is_zero() {
            self.nonzero += 1;
        }
        self.queue.push(index);
        self.check_first_cell();
        self.peel();
        Ok(())
    }

    /// Whether at least one symbol arrived and every received symbol is zero after
    /// peeling: `remote_only` and `local_only` are then the whole difference, up to
    /// short-id collisions and the rare false purity that leaves every cell zero, which
    /// the caller catches by checking full ids.
    pub fn is_decoded(&self) -> bool {
        !self.inconsistent && !self.cells.is_empty() && self.nonzero == 0
    }

    /// Whether the stream contradicted itself: an id turned up pure again after it was
    /// decoded, more ids peeled than symbols arrived, or cell 0, which holds the whole
    /// difference, went zero beside a nonzero cell. Each proves a false purity (about 1
    /// decode in 10^4: the checksum has 16 bits) or a garbage stream; the decode will
    /// not finish, and the caller should start over under a fresh salt rather than
    /// spend the rest of the budget.
    pub fn is_inconsistent(&self) -> bool {
        self.inconsistent
    }

    /// Short ids the remote has and we lack, in the order they were decoded.
    pub fn remote_only(&self) -> &[u64] {
        &self.remote_only
    }

    /// Short ids we have and the remote lacks, in the order they were decoded.
    pub fn local_only(&self) -> &[u64] {
        &self.local_only
    }

    /// How many coded symbols arrived.
    pub fn received(&self) -> u64 {
        self.cells.len() as u64
    }

    /// An estimate of the differences not decoded yet, to pace requests for symbols:
    /// cell 0 holds every undecoded id, so its count is (remote-only − local-only)
    /// exactly; cell i holds each with chance ρ(i), so the spread of the counts around
    /// their expected share has variance d·ρ(i)(1 − ρ(i)) and tells d when the two sides'
    /// counts cancel.
    pub fn estimate_remaining(&self) -> u64 {
        let Some(first) = self.cells.first() else {
            return 0;
        };
        let delta = first.count as f64;
        let (mut spread, mut weight) = (0.0f64, 0.0f64);
        for (i, c) in self.cells.iter().enumerate().skip(1) {
            let rho = 2.0 / (i as f64 + 2.0);
            let dev = c.count as f64 - delta * rho;
            spread += dev * dev;
            weight += rho * (1.0 - rho);
        }
        let d = if weight > 0.0 { spread / weight } else { 0.0 };
        delta.abs().max(d).round() as u64
    }

    /// Peels pure cells until none is left in the queue.
    fn peel(&mut self) {
        if self.inconsistent {
            self.queue.clear();
        }
        while let Some(c) = self.queue.pop() {
            let cell = self.cells[c];
            let side: i8 = match cell.count {
                1 => 1,
                -1 => -1,
                _ => continue,
            };
            let short = cell.key;
            if short & !self.key.mask() != 0 {
                continue;
            }
            let mix = self.key.mix(short);
            if shortid::checksum_of_mix(mix) != cell.checksum {
                continue;
            }
            let visit = self.visit_mapping(c as u64, mix);
            if !visit.on_mapping {
                continue;
            }
            // Peeling an id empties its cell for good, so an honest stream never shows
            // a decoded id again, and peels at most one id per symbol.
            if self.decoded.contains(&short) || self.decoded.len() as u64 >= self.received() {
                self.contradiction();
                return;
            }
            // Cell 0 holds the whole difference: pure means a difference of one id,
            // so the nonzero cells are exactly those on its mapping. This is all that
            // guards cell 0, which every id maps to.
            if visit.touches_zero || (c == 0 && visit.cells != self.nonzero) {
                continue;
            }
            self.decoded.insert(short);
            if side == 1 {
                self.remote_only.push(short);
            } else {
                self.local_only.push(short);
            }
            self.remove_everywhere(short, mix, -side);
            self.check_first_cell();
        }
    }

    /// Walks the mapping of an id with this mix, found pure in cell `c`, over the
    /// received cells, for the checks the 16-bit checksum alone is too weak for (it
    /// passes an impure cell once in 65,536).
    fn visit_mapping(&self, c: u64, mix: u64) -> Visit {
        let mut visit = Visit {
            on_mapping: false,
            touches_zero: false,
            cells: 0,
        };
        let mut m = Mapping::new(mix);
        while m.index < self.received() {
            visit.touches_zero |= self.cells[m.index as usize].is_zero();
            visit.on_mapping |= m.index == c;
            visit.cells += 1;
            m.advance();
        }
        visit
    }

    /// Cell 0 holds every id of the difference, so it is zero only once the whole
    /// difference is peeled; zero beside a nonzero cell proves a false purity.
    fn check_first_cell(&mut self) {
        if self.nonzero > 0 && self.cells.first().is_some_and(CodedSymbol::is_zero) {
            self.contradiction();
        }
    }

    /// The stream contradicted itself: stop peeling for good.
    fn contradiction(&mut self) {
        self.inconsistent = true;
        self.queue.clear();
    }

    /// Applies one source symbol in direction `dir` to every received cell on its
    /// mapping and to every later one, queueing the cells that may have become pure.
    fn remove_everywhere(&mut self, short: u64, mix: u64, dir: i8) {
        let checksum = shortid::checksum_of_mix(mix);
        let received = self.received();
        let mut m = Mapping::new(mix);
        while m.index < received {
            let i = m.index as usize;
            let cell = &mut self.cells[i];
            let was_zero = cell.is_zero();
            cell.apply(short, checksum, i64::from(dir));
            match (was_zero, cell.is_zero()) {
                (true, false) => self.nonzero += 1,
                (false, true) => self.nonzero -= 1,
                _ => {}
            }
            if cell.count == 1 || cell.count == -1 {
                self.queue.push(i);
            }
            m.advance();
        }
        self.peeled.push(m, short, checksum, dir);
    }
}

/// What a candidate id's mapping says about the received cells.
struct Visit {
    /// The mapping holds the cell the id was found pure in; a random impure cell past
    /// the first few mostly fails this.
    on_mapping: bool,
    /// A cell on the mapping is zero, which cannot be while the id is in the
    /// difference, since it is in each of them. This guards the low cells, which every
    /// id maps to, late in a decode when most cells are zero.
    touches_zero: bool,
    /// Received cells on the mapping.
    cells: u64,
}

/// Why coded-symbol bytes were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    /// The short id length is outside the allowed range.
    #[error(transparent)]
    KeyLen(#[from] shortid::LenOutOfRange),
    /// More symbols than the caller accepts in one message.
    #[error("more than {max} coded symbols")]
    TooMany {
        /// The bound.
        max: usize,
    },
    /// The bytes end inside a symbol.
    #[error("coded symbols truncated")]
    Truncated,
    /// A count varint runs past its longest form.
    #[error("count varint longer than {MAX_VARINT_BYTES} bytes")]
    VarintTooLong,
    /// A count varint has a redundant trailing byte.
    #[error("count varint not minimally encoded")]
    VarintNotMinimal,
    /// A count decodes to a value outside `i64`.
    #[error("coded symbol count out of range")]
    CountOutOfRange,
}

/// The count symbol `index` of a set of `n` short ids has on average, rounded:
/// n·ρ(index) = 2n / (index + 2).
fn expected_count(n: u64, index: u64) -> i128 {
    let den = u128::from(index) + 2;
    ((2 * u128::from(n) + den / 2) / den) as i128
}

/// Appends `symbols`, the sender's coded symbols from `first_index` on, for a set of
/// `n_sender` short ids of `key_len` bytes (`shortid::MIN_LEN..=MAX_LEN`, clamped there).
///
/// Each symbol is a zigzag varint of `count - round(n_sender·ρ(index))` (a count is
/// close to its expectation, so this is mostly one or two bytes), then `key_len` bytes
/// of key and 2 of checksum, little endian. Keys must fit `key_len` bytes, as the XOR
/// of short ids of that length does.
pub fn write_symbols(
    out: &mut Vec<u8>,
    first_index: u64,
    n_sender: u64,
    key_len: u8,
    symbols: &[CodedSymbol],
) {
    debug_assert!((shortid::MIN_LEN..=shortid::MAX_LEN).contains(&key_len));
    let key_len = usize::from(key_len.clamp(shortid::MIN_LEN, shortid::MAX_LEN));
    out.reserve(symbols.len() * (2 + key_len + CHECKSUM_BYTES));
    for (k, s) in symbols.iter().enumerate() {
        let index = first_index.saturating_add(k as u64);
        let delta = i128::from(s.count) - expected_count(n_sender, index);
        let mut z = ((delta << 1) ^ (delta >> 127)) as u128;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
        out.extend_from_slice(&s.key.to_le_bytes()[..key_len]);
        out.extend_from_slice(&s.checksum.to_le_bytes());
    }
}

/// Reads what `write_symbols` wrote with the same parameters: at most `max` symbols,
/// and exactly the bytes given.
pub fn read_symbols(
    bytes: &[u8],
    first_index: u64,
    n_sender: u64,
    key_len: u8,
    max: usize,
) -> Result<Vec<CodedSymbol>, SymbolError> {
    if !(shortid::MIN_LEN..=shortid::MAX_LEN).contains(&key_len) {
        return Err(shortid::LenOutOfRange { len: key_len }.into());
    }
    let key_len = usize::from(key_len);
    // Sized by the bytes present, never by what they claim.
    let smallest = 1 + key_len + CHECKSUM_BYTES;
    let mut out = Vec::with_capacity(max.min(bytes.len() / smallest));
    let mut rest = bytes;
    while !rest.is_empty() {
        if out.len() >= max {
            return Err(SymbolError::TooMany { max });
        }
        let (z, used) = read_varint(rest)?;
        rest = &rest[used..];
        if rest.len() < key_len + CHECKSUM_BYTES {
            return Err(SymbolError::Truncated);
        }
        let mut key = [0u8; 8];
        key[..key_len].copy_from_slice(&rest[..key_len]);
        let checksum = u16::from_le_bytes([rest[key_len], rest[key_len + 1]]);
        rest = &rest[key_len + CHECKSUM_BYTES..];
        let index = first_index.saturating_add(out.len() as u64);
        // z < 2^70, so delta and the sum stay far inside i128.
        let delta = ((z >> 1) as i128) ^ -((z & 1) as i128);
        let count = i64::try_from(delta + expected_count(n_sender, index))
            .map_err(|_| SymbolError::CountOutOfRange)?;
        out.push(CodedSymbol {
            count,
            key: u64::from_le_bytes(key),
            checksum,
        });
    }
    Ok(out)
}

/// Reads a minimal LEB128 varint of at most `MAX_VARINT_BYTES`; returns it and its length.
fn read_varint(bytes: &[u8]) -> Result<(u128, usize), SymbolError> {
    let mut value: u128 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if i == MAX_VARINT_BYTES {
            return Err(SymbolError::VarintTooLong);
        }
        value |= u128::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return Err(SymbolError::VarintNotMinimal);
            }
            return Ok((value, i + 1));
        }
    }
    Err(SymbolError::Truncated)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Instant;

    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};

    use super::*;
    use crate::id::RecordId;
    use crate::sync::shortid::tests::{find_collision, random_id};

    const SALT: [u8; 16] = *b"riblt test salt!";

    fn key(len: u8) -> ShortIdKey {
        ShortIdKey::new(SALT, len).unwrap()
    }

    /// Two sets sharing `common` short ids, with `only_remote` and `only_local` more.
    struct Sets {
        remote: Vec<u64>,
        local: Vec<u64>,
        remote_only: Vec<u64>,
        local_only: Vec<u64>,
    }

    fn sets(
        key: &ShortIdKey,
        seed: u64,
        common: usize,
        only_remote: usize,
        only_local: usize,
    ) -> Sets {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut seen = HashSet::new();
        let mut draw = |n: usize| {
            let mut v = Vec::with_capacity(n);
            while v.len() < n {
                let s = rng.next_u64() & key.mask();
                if seen.insert(s) {
                    v.push(s);
                }
            }
            v
        };
        let common = draw(common);
        let remote_only = draw(only_remote);
        let local_only = draw(only_local);
        Sets {
            remote: common.iter().chain(&remote_only).copied().collect(),
            local: common.iter().chain(&local_only).copied().collect(),
            remote_only: sorted(&remote_only),
            local_only: sorted(&local_only),
        }
    }

    fn sorted(v: &[u64]) -> Vec<u64> {
        let mut v = v.to_vec();
        v.sort_unstable();
        v
    }

    /// Streams the remote's symbols into a decoder of the local set until it decodes.
    fn reconcile(
        key: &ShortIdKey,
        remote: &[u64],
        local: &[u64],
        max: u64,
    ) -> Result<Decoder, DecodeError> {
        let mut enc = Encoder::new(key, remote.iter().copied());
        let mut dec = Decoder::new(
            key,
            local.iter().copied(),
            DecoderConfig { max_symbols: max },
        );
        while !dec.is_decoded() {
            dec.push(enc.next_symbol())?;
        }
        assert_eq!(enc.produced(), dec.received());
        Ok(dec)
    }

    /// Attempts a session makes before giving up on difference coding.
    const ATTEMPTS: u8 = 3;

    /// What a session does: streams until decoded, and starts over under a fresh salt
    /// when the decode contradicts itself (a false purity, about 1 in 10^4 decodes).
    /// Returns the decoder and the symbols spent on all attempts.
    fn reconcile_retrying(len: u8, remote: &[u64], local: &[u64], max: u64) -> (Decoder, u64) {
        let mut spent = 0;
        for attempt in 0..ATTEMPTS {
            let mut salt = SALT;
            salt[0] ^= attempt;
            let key = ShortIdKey::new(salt, len).unwrap();
            let mut enc = Encoder::new(&key, remote.iter().copied());
            let mut dec = Decoder::new(
                &key,
                local.iter().copied(),
                DecoderConfig { max_symbols: max },
            );
            while !dec.is_decoded() && !dec.is_inconsistent() {
                dec.push(enc.next_symbol())
                    .expect("decodes within the budget");
            }
            spent += dec.received();
            if dec.is_decoded() {
                return (dec, spent);
            }
        }
        panic!("{ATTEMPTS} decodes in a row contradicted themselves");
    }

    fn assert_exact(dec: &Decoder, s: &Sets) {
        assert_eq!(sorted(dec.remote_only()), s.remote_only);
        assert_eq!(sorted(dec.local_only()), s.local_only);
    }

    /// The indices a seed maps to below `end`, one `advance` at a time.
    fn indices(seed: u64, end: u64) -> Vec<u64> {
        let mut m = Mapping::new(seed);
        let mut v = Vec::new();
        while m.index < end {
            v.push(m.index);
            m.advance();
        }
        v
    }

    #[test]
    fn mapping_density_is_rho() {
        const SEEDS: u64 = 20_000;
        const END: u64 = 200;
        let mut hits = vec![0u64; END as usize];
        for seed in 0..SEEDS {
            for i in indices(seed.wrapping_mul(0x2545_f491_4f6c_dd1d), END) {
                hits[i as usize] += 1;
            }
        }
        assert_eq!(hits[0], SEEDS);
        for i in [1u64, 2, 5, 10, 30, 100, 199] {
            let rho = 1.0 / (1.0 + 0.5 * i as f64);
            let seen = hits[i as usize] as f64 / SEEDS as f64;
            assert!((seen - rho).abs() < 0.02, "index {i}: {seen} vs {rho}");
        }
    }

    #[test]
    fn next_index_edges() {
        // u = 1 always takes the very next index.
        assert_eq!(next_index(0, u64::MAX), 1);
        assert_eq!(next_index(1000, u64::MAX), 1001);
        // The smallest draw jumps far, but stays exact and finite below the cap.
        let far = next_index(0, 0);
        assert!(far > 1 << 30 || far == NEVER, "{far}");
        assert_eq!(next_index(MAX_INDEX, 12345), NEVER);
        assert_eq!(next_index(MAX_INDEX - 1, u64::MAX), NEVER);
        assert_eq!(next_index(MAX_INDEX - 2, u64::MAX), MAX_INDEX - 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::testkit::cases()))]

        /// The index is the one the integer rule defines, whatever the float guess said.
        #[test]
        fn next_index_is_the_smallest_t_reaching_the_target(i in 0..MAX_INDEX, r in any::<u64>()) {
            let next = next_index(i, r);
            prop_assert!(next > i);
            let u = u128::from(r) + 1;
            let target = (u128::from(i + 1) * u128::from(i + 2)) << 64;
            let reached = |t: u128| t.checked_mul(t + 1).and_then(|x| x.checked_mul(u)).is_none_or(|x| x >= target);
            if next != NEVER {
                let t = u128::from(next) + 1;
                prop_assert!(reached(t));
                prop_assert!(t == u128::from(i) + 2 || !reached(t - 1));
            } else {
                prop_assert!(!reached(u128::from(MAX_INDEX)));
            }
        }
    }

    #[test]
    fn encoder_matches_the_naive_sum() {
        let key = key(6);
        let s = sets(&key, 1, 300, 0, 0);
        const END: u64 = 500;
        let mut naive = vec![CodedSymbol::default(); END as usize];
        for &short in &s.remote {
            let mix = key.mix(short);
            for i in indices(mix, END) {
                naive[i as usize].apply(short, key.checksum(short), 1);
            }
        }
        let mut enc = Encoder::new(&key, s.remote.iter().copied());
        assert_eq!(enc.len(), 300);
        assert!(!enc.is_empty() && Encoder::new(&key, []).is_empty());
        let streamed: Vec<CodedSymbol> = (0..END).map(|_| enc.next_symbol()).collect();
        assert_eq!(streamed, naive);
        assert_eq!(enc.produced(), END);
    }

    #[test]
    fn decodes_fixed_differences() {
        let key = key(8);
        for (seed, d) in [0usize, 1, 10, 100, 1000].into_iter().enumerate() {
            for (remote, local) in [(d, 0), (0, d), (d / 2, d - d / 2)] {
                let s = sets(
                    &key,
                    seed as u64 * 10 + remote as u64,
                    10_000,
                    remote,
                    local,
                );
                let (dec, _) = reconcile_retrying(8, &s.remote, &s.local, 10 * d as u64 + 10);
                assert_exact(&dec, &s);
            }
        }
    }

    #[test]
    fn empty_sets_decode_at_once() {
        let key = key(4);
        let dec = reconcile(&key, &[], &[], 1).unwrap();
        assert_eq!(dec.received(), 1);
        assert!(dec.remote_only().is_empty() && dec.local_only().is_empty());
        let s = sets(&key, 3, 0, 1, 0);
        let dec = reconcile(&key, &s.remote, &s.local, 1).unwrap();
        assert_exact(&dec, &s);
        assert!(!Decoder::new(&key, [], DecoderConfig { max_symbols: 1 }).is_decoded());
    }

    #[test]
    fn later_symbols_are_cancelled_by_decoded_items() {
        let key = key(8);
        let s = sets(&key, 4, 2_000, 30, 20);
        let mut enc = Encoder::new(&key, s.remote.iter().copied());
        let mut dec = Decoder::new(
            &key,
            s.local.iter().copied(),
            DecoderConfig { max_symbols: 1_000 },
        );
        while !dec.is_decoded() {
            dec.push(enc.next_symbol()).unwrap();
        }
        for _ in 0..300 {
            dec.push(enc.next_symbol()).unwrap();
            assert!(dec.is_decoded());
        }
        assert_exact(&dec, &s);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::testkit::cases()))]

        #[test]
        fn decodes_random_differences(
            seed in any::<u64>(),
            common in 0usize..2_000,
            only_remote in 0usize..60,
            only_local in 0usize..60,
            len in 6u8..=8,
        ) {
            let key = key(len);
            let s = sets(&key, seed, common, only_remote, only_local);
            let d = (only_remote + only_local) as u64;
            // Generous: small differences have a long tail (1 in 20,000 at d = 10 needs 12·d).
            let (dec, _) = reconcile_retrying(len, &s.remote, &s.local, 20 * d + 200);
            prop_assert_eq!(sorted(dec.remote_only()), s.remote_only);
            prop_assert_eq!(sorted(dec.local_only()), s.local_only);
        }
    }

    #[test]
    fn symbols_per_difference_at_100() {
        const TRIALS: u64 = 40;
        const D: usize = 100;
        let key = key(8);
        let mut total = 0;
        for trial in 0..TRIALS {
            let remote = (trial as usize * 37) % (D + 1);
            let s = sets(&key, 1000 + trial, 5_000, remote, D - remote);
            let (dec, spent) = reconcile_retrying(8, &s.remote, &s.local, 10 * D as u64);
            assert_exact(&dec, &s);
            total += spent;
        }
        let mean = total as f64 / (TRIALS * D as u64) as f64;
        println!("riblt: {mean:.3} coded symbols per difference at d = {D} over {TRIALS} trials");
        assert!((1.0..=2.0).contains(&mean), "{mean}");
    }

    /// Three ids whose checksums XOR to the checksum of their XOR make a cell that looks
    /// pure (1 in 2^16). Symbol 0 holds every id, so nothing but the checksum guards it:
    /// the decoder takes the phantom for the difference, and only the caller's check of
    /// full ids can tell. Later symbols expose it, and nothing loops or grows.
    #[test]
    fn a_false_purity_is_exposed_by_later_symbols() {
        let key = key(8);
        let mut rng = ChaCha20Rng::seed_from_u64(12);
        let (p, q, r) = loop {
            let [p, q, r] = [rng.next_u64(), rng.next_u64(), rng.next_u64()];
            if key.checksum(p ^ q ^ r) == key.checksum(p) ^ key.checksum(q) ^ key.checksum(r) {
                break (p, q, r);
            }
        };
        let phantom = p ^ q ^ r;
        let common = sets(&key, 13, 500, 0, 0).remote;
        let remote: Vec<u64> = common.iter().copied().chain([p, q]).collect();
        let local: Vec<u64> = common.iter().copied().chain([r]).collect();
        let mut enc = Encoder::new(&key, remote.iter().copied());
        let mut dec = Decoder::new(
            &key,
            local.iter().copied(),
            DecoderConfig { max_symbols: 100 },
        );
        dec.push(enc.next_symbol()).unwrap();
        assert!(dec.is_decoded());
        assert_eq!(dec.remote_only(), [phantom]);
        assert!(dec.local_only().is_empty());
        while !dec.is_inconsistent() && dec.push(enc.next_symbol()).is_ok() {}
        assert!(
            dec.is_inconsistent(),
            "contradicted within {} symbols",
            dec.received()
        );
        assert!(!dec.is_decoded());
        assert!(dec.decoded.len() as u64 <= dec.received());
        // Pushing on is harmless.
        while dec.push(enc.next_symbol()).is_ok() {}
        assert_eq!(dec.received(), 100);
    }

    #[test]
    fn random_garbage_hits_the_budget() {
        const MAX: u64 = 3_000;
        let key = key(5);
        let s = sets(&key, 5, 1_000, 0, 0);
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        for pure_looking in [false, true] {
            let mut local = Encoder::new(&key, s.local.iter().copied());
            let mut dec = Decoder::new(
                &key,
                s.local.iter().copied(),
                DecoderConfig { max_symbols: MAX },
            );
            let err = loop {
                let short = rng.next_u64() & key.mask();
                let sym = if pure_looking {
                    // Each one, less our symbol, looks like a single remote id: garbage
                    // that passes every checksum.
                    let mut ours = local.next_symbol();
                    ours.apply(short, key.checksum(short), 1);
                    ours
                } else {
                    CodedSymbol {
                        count: rng.next_u64() as i64,
                        key: short,
                        checksum: rng.next_u64() as u16,
                    }
                };
                if let Err(e) = dec.push(sym) {
                    break e;
                }
                assert!(dec.received() <= MAX);
            };
            assert_eq!(err, DecodeError::Budget { max: MAX });
            assert_eq!(dec.received(), MAX);
            assert!(!dec.is_decoded());
            // Memory stays within the budget: one cell per symbol, at most one decoded
            // id per symbol.
            assert_eq!(dec.cells.len() as u64, MAX);
            assert!(dec.decoded.len() as u64 <= MAX);
            assert_eq!(
                dec.remote_only().len() + dec.local_only().len(),
                dec.decoded.len()
            );
            if pure_looking {
                assert!(dec.is_inconsistent());
            }
        }
    }

    #[test]
    fn a_stream_under_another_salt_hits_the_budget() {
        let ours = key(5);
        let theirs = ShortIdKey::new(*b"another salt....", 5).unwrap();
        let s = sets(&ours, 7, 2_000, 10, 10);
        let err = reconcile(&ours, &[], &[], 0).err().expect("no budget");
        assert_eq!(err, DecodeError::Budget { max: 0 });
        let mut enc = Encoder::new(&theirs, s.remote.iter().copied());
        let mut dec = Decoder::new(
            &ours,
            s.local.iter().copied(),
            DecoderConfig { max_symbols: 500 },
        );
        let mut result = Ok(());
        while result.is_ok() && !dec.is_decoded() {
            result = dec.push(enc.next_symbol());
        }
        assert_eq!(result, Err(DecodeError::Budget { max: 500 }));
    }

    /// Two records with one short id cancel each other: the decoder reports no
    /// difference, the full ids disagree, and the caller retries under a new salt.
    #[test]
    fn a_short_id_collision_is_caught_by_the_full_ids() {
        let weak = ShortIdKey::new(*b"collision salt 1", 4).unwrap();
        let (a, b) = find_collision(&weak, 1, 300_000).expect("a birthday collision");
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let common: Vec<RecordId> = (0..500).map(|_| random_id(&mut rng)).collect();
        let remote: Vec<RecordId> = common.iter().copied().chain([a]).collect();
        let local: Vec<RecordId> = common.iter().copied().chain([b]).collect();
        let shorts = |key: &ShortIdKey, ids: &[RecordId]| {
            ids.iter().map(|id| key.short(id)).collect::<Vec<_>>()
        };

        let dec = reconcile(&weak, &shorts(&weak, &remote), &shorts(&weak, &local), 100).unwrap();
        assert!(dec.remote_only().is_empty() && dec.local_only().is_empty());
        // What the caller checks after fetching the difference: the full sets agree.
        let fingerprint = |ids: &[RecordId]| {
            let mut ids = ids.to_vec();
            ids.sort();
            blake3::hash(&ids.concat_bytes())
        };
        assert_ne!(fingerprint(&remote), fingerprint(&local));

        let fresh = ShortIdKey::new(*b"collision salt 2", 4).unwrap();
        let dec = reconcile(
            &fresh,
            &shorts(&fresh, &remote),
            &shorts(&fresh, &local),
            100,
        )
        .unwrap();
        assert_eq!(dec.remote_only(), [fresh.short(&a)]);
        assert_eq!(dec.local_only(), [fresh.short(&b)]);
    }

    trait ConcatBytes {
        fn concat_bytes(&self) -> Vec<u8>;
    }

    impl ConcatBytes for Vec<RecordId> {
        fn concat_bytes(&self) -> Vec<u8> {
            self.iter().flat_map(|id| id.0).collect()
        }
    }

    fn symbol() -> impl Strategy<Value = CodedSymbol> {
        (any::<i64>(), any::<u64>(), any::<u16>()).prop_map(|(count, key, checksum)| CodedSymbol {
            count,
            key,
            checksum,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::testkit::cases()))]

        #[test]
        fn wire_round_trips(
            symbols in prop::collection::vec(symbol(), 0..40),
            first in any::<u64>(),
            n in any::<u64>(),
            len in shortid::MIN_LEN..=shortid::MAX_LEN,
        ) {
            let mask = u64::MAX >> (64 - 8 * u32::from(len));
            let symbols: Vec<CodedSymbol> = symbols.into_iter().map(|s| CodedSymbol { key: s.key & mask, ..s }).collect();
            let mut bytes = Vec::new();
            write_symbols(&mut bytes, first, n, len, &symbols);
            prop_assert_eq!(read_symbols(&bytes, first, n, len, symbols.len()), Ok(symbols.clone()));
            if !symbols.is_empty() {
                prop_assert_eq!(
                    read_symbols(&bytes, first, n, len, symbols.len() - 1),
                    Err(SymbolError::TooMany { max: symbols.len() - 1 })
                );
                prop_assert!(read_symbols(&bytes[..bytes.len() - 1], first, n, len, symbols.len()).is_err());
            }
        }

        /// Garbage never panics, and what it accepts is canonical: it writes back the same.
        #[test]
        fn wire_garbage_never_panics(
            bytes in prop::collection::vec(any::<u8>(), 0..300),
            first in any::<u64>(),
            n in any::<u64>(),
            len in any::<u8>(),
            max in 0usize..100,
        ) {
            if let Ok(symbols) = read_symbols(&bytes, first, n, len, max) {
                prop_assert!(symbols.len() <= max);
                let mut again = Vec::new();
                write_symbols(&mut again, first, n, len, &symbols);
                prop_assert_eq!(again, bytes);
            }
        }
    }

    #[test]
    fn wire_refuses_malformed_symbols() {
        let sym = |count| CodedSymbol {
            count,
            key: 0x1234_5678,
            checksum: 0xbeef,
        };
        let mut ok = Vec::new();
        write_symbols(&mut ok, 0, 10, 4, &[sym(10)]);
        assert_eq!(ok.len(), 1 + 4 + 2, "an expected count costs one byte");
        assert_eq!(
            read_symbols(&ok, 0, 10, 3, 1),
            Err(SymbolError::KeyLen(shortid::LenOutOfRange { len: 3 }))
        );
        assert_eq!(
            read_symbols(&ok, 0, 10, 9, 1),
            Err(SymbolError::KeyLen(shortid::LenOutOfRange { len: 9 }))
        );
        assert_eq!(
            read_symbols(&ok, 0, 10, 4, 0),
            Err(SymbolError::TooMany { max: 0 })
        );
        assert_eq!(
            read_symbols(&ok[..6], 0, 10, 4, 1),
            Err(SymbolError::Truncated)
        );
        assert_eq!(
            read_symbols(&[0x80], 0, 10, 4, 1),
            Err(SymbolError::Truncated)
        );
        assert_eq!(
            read_symbols(&[0x80; 11], 0, 10, 4, 1),
            Err(SymbolError::VarintTooLong)
        );
        let padded = [0x80, 0x00, 1, 2, 3, 4, 5, 6];
        assert_eq!(
            read_symbols(&padded, 0, 10, 4, 1),
            Err(SymbolError::VarintNotMinimal)
        );
        // A delta of 2^64 on top of an expectation of 0 leaves i64.
        let mut huge = vec![0x80; 9];
        huge.push(0x04);
        huge.extend_from_slice(&[0; 6]);
        assert_eq!(
            read_symbols(&huge, 1 << 40, 0, 4, 1),
            Err(SymbolError::CountOutOfRange)
        );
        // The extreme counts travel.
        let mut edge = Vec::new();
        let extremes = [sym(i64::MIN), sym(i64::MAX)];
        write_symbols(&mut edge, 0, u64::MAX, 8, &extremes);
        assert_eq!(
            read_symbols(&edge, 0, u64::MAX, 8, 2),
            Ok(extremes.to_vec())
        );
    }

    #[test]
    fn symbol_zero_of_a_million_costs_one_count_byte() {
        let key = key(5);
        let s = sets(&key, 9, 1_000_000, 0, 0);
        let mut enc = Encoder::new(&key, s.remote.iter().copied());
        let first = [enc.next_symbol(), enc.next_symbol()];
        assert_eq!(first[0].count, 1_000_000);
        let mut bytes = Vec::new();
        write_symbols(&mut bytes, 0, enc.len(), 5, &first[..1]);
        assert_eq!(bytes.len(), 1 + 5 + 2);
        bytes.clear();
        write_symbols(&mut bytes, 0, enc.len(), 5, &first);
        // Symbol 1 holds about 2/3 of the million, ± a few hundred: two count bytes.
        assert!(bytes.len() <= 2 * (1 + 5 + 2) + 2, "{}", bytes.len());
        assert_eq!(read_symbols(&bytes, 0, enc.len(), 5, 2), Ok(first.to_vec()));
    }

    #[test]
    fn wire_size_at_100k_with_100_differences() {
        const N: usize = 100_000;
        const D: usize = 100;
        const LEN: u8 = 5;
        let key = key(LEN);
        let mut total_bytes = 0;
        let mut total_symbols = 0;
        const TRIALS: u64 = 5;
        for trial in 0..TRIALS {
            let s = sets(&key, 100 + trial, N, D / 2, D / 2);
            let mut enc = Encoder::new(&key, s.remote.iter().copied());
            let mut dec = Decoder::new(
                &key,
                s.local.iter().copied(),
                DecoderConfig { max_symbols: 1_000 },
            );
            let mut bytes = Vec::new();
            // In messages of 16 symbols, as a session would send them.
            while !dec.is_decoded() {
                let first = enc.produced();
                let batch: Vec<CodedSymbol> = (0..16).map(|_| enc.next_symbol()).collect();
                let start = bytes.len();
                write_symbols(&mut bytes, first, enc.len(), LEN, &batch);
                let back = read_symbols(&bytes[start..], first, enc.len(), LEN, 16).unwrap();
                assert_eq!(back, batch);
                for sym in back {
                    if !dec.is_decoded() {
                        dec.push(sym).unwrap();
                    }
                }
            }
            assert_exact(&dec, &s);
            total_bytes += bytes.len();
            total_symbols += enc.produced() as usize;
        }
        let per_symbol = total_bytes as f64 / total_symbols as f64;
        let per_difference = total_bytes as f64 / (TRIALS as usize * D) as f64;
        println!(
            "riblt wire at n = {N}, d = {D}, {LEN}-byte ids: {per_symbol:.2} bytes per symbol, \
             {per_difference:.2} bytes per difference (16-symbol messages)"
        );
        assert!(
            per_symbol <= 1.0 + f64::from(LEN) + 2.0 + 1.5,
            "{per_symbol}"
        );
    }

    /// `cargo test --release -p meshpay-protocol encode_a_million -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn encode_a_million() {
        let key = key(7);
        let s = sets(&key, 10, 1_000_000, 0, 0);
        let start = Instant::now();
        let mut enc = Encoder::new(&key, s.remote.iter().copied());
        let built = start.elapsed();
        let mut sink = 0u64;
        for _ in 0..2_000 {
            sink ^= enc.next_symbol().key;
        }
        println!(
            "riblt: encoder over 1,000,000 ids built in {built:?}, 2,000 symbols in {:?} (total {:?}, {sink:x})",
            start.elapsed() - built,
            start.elapsed()
        );
        let s = sets(&key, 11, 1_000_000, 50, 50);
        let start = Instant::now();
        let dec = reconcile(&key, &s.remote, &s.local, 1_000).unwrap();
        assert_exact(&dec, &s);
        println!(
            "riblt: decoded d = 100 against 1,000,000 local ids with {} symbols in {:?}",
            dec.received(),
            start.elapsed()
        );
    }
}
