//! Synthetic chat data, the same every time for a seed: a small random generator, a vocabulary
//! used with natural-text frequencies, a skewed pick, and an appender that keeps many appends
//! in flight. The data set bench, the replay bench and the behaviour suite's logs use them.

use std::collections::VecDeque;

use natter_bus::{Bus, PendingAppend};
use natter_schemas::Event;
use natter_schemas::event::EventBody;

/// A small deterministic generator (xorshift), so that a data set (or a generated log in the
/// tests) is the same every time.
pub struct Rng(pub u64);

impl Rng {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
    /// A float in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A vocabulary of pronounceable words; word `i` is used with frequency about 1/(i+1), as in
/// natural text.
pub(crate) fn vocabulary(n: usize) -> Vec<String> {
    const ONSETS: &[&str] = &[
        "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "pl",
        "gr",
    ];
    const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ou"];
    let mut words = Vec::with_capacity(n);
    let mut i = 0usize;
    while words.len() < n {
        let mut w = String::new();
        let mut k = i;
        for _ in 0..3 {
            w.push_str(ONSETS[k % ONSETS.len()]);
            k /= ONSETS.len();
            w.push_str(VOWELS[k % VOWELS.len()]);
            k /= VOWELS.len();
        }
        w.push_str(["n", "r", "s", "t", "x"][i % 5]);
        words.push(w);
        i += 1;
    }
    words
}

/// An index in `0..n`, skewed toward the start (about Zipf with exponent 1).
pub(crate) fn skewed(rng: &mut Rng, n: usize) -> usize {
    let x = rng.unit();
    (((n as f64 + 1.0).powf(x) - 1.0) as usize).min(n - 1)
}

/// Appends with up to `window` acks outstanding.
pub(crate) struct Appender {
    bus: Bus,
    pending: VecDeque<PendingAppend>,
    window: usize,
    head: u64,
}

impl Appender {
    pub(crate) fn new(bus: Bus, window: usize) -> Self {
        Self {
            bus,
            pending: VecDeque::new(),
            window,
            head: 0,
        }
    }

    pub(crate) async fn append(&mut self, event: &Event, first: bool) -> anyhow::Result<()> {
        while self.pending.len() >= self.window {
            self.settle_one().await?;
        }
        let subject = match &event.body {
            EventBody::UserRegistered(u) => self.bus.subjects().username_claim(&u.username),
            EventBody::RoomCreated(_) => self
                .bus
                .subjects()
                .room_created(event.room_id.unwrap_or_default()),
            _ => self
                .bus
                .subjects()
                .room_event(event.room_id.unwrap_or_default(), event.type_name()),
        };
        let pending = self
            .bus
            .append_pipelined(subject, event, None, first)
            .await?;
        self.pending.push_back(pending);
        Ok(())
    }

    async fn settle_one(&mut self) -> anyhow::Result<()> {
        if let Some(p) = self.pending.pop_front() {
            self.head = self.head.max(p.await?.seq);
        }
        Ok(())
    }

    pub(crate) async fn finish(&mut self) -> anyhow::Result<u64> {
        while !self.pending.is_empty() {
            self.settle_one().await?;
        }
        Ok(self.head)
    }
}
