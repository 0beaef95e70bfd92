//! The workload's shape: its flags, and the named presets the figures in docs/performance.md use.

#[derive(Debug, Clone, clap::Args)]
pub struct FanoutArgs {
    /// Rooms.
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// Subscribed sockets per room (each its own connection).
    #[arg(long, default_value_t = 10)]
    pub subscribers: usize,
    /// Sending sockets in all, spread over the rooms.
    #[arg(long, default_value_t = 20)]
    pub senders: usize,
    /// Total messages per second; 0 sends as fast as acks allow.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Warm-up seconds, not measured.
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    /// Sends in flight per sending socket.
    #[arg(long, default_value_t = 32)]
    pub window: usize,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 100)]
    pub body_bytes: usize,
    /// A named shape (sets rooms, subscribers, senders, window and rate; the other flags
    /// still apply): the shapes natter's figures are measured with.
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
}

/// The shapes of the figures in docs/performance.md (and of issue 12's comparison with a plain server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// 1 room x 50 sockets, 5 senders with 4 sends in flight each, as fast as it goes.
    #[value(name = "1x50")]
    OneRoom,
    /// 10 rooms x 20 sockets, 2 senders per room, 4 in flight each, as fast as it goes.
    #[value(name = "10x20")]
    TenRooms,
    /// 100 rooms x 10 sockets, 1 sender per room, 4 in flight each, as fast as it goes.
    #[value(name = "100x10")]
    HundredRooms,
    /// 1 room x 50 sockets, 5 senders, 400 messages/s in all.
    #[value(name = "rate400")]
    Rate400,
}

impl FanoutArgs {
    /// These arguments with `preset`'s shape, if one was named.
    pub fn shaped(&self) -> Self {
        let mut args = self.clone();
        let (rooms, subscribers, senders, rate) = match self.preset {
            None => return args,
            Some(Preset::OneRoom) => (1, 50, 5, 0),
            Some(Preset::TenRooms) => (10, 20, 20, 0),
            Some(Preset::HundredRooms) => (100, 10, 100, 0),
            Some(Preset::Rate400) => (1, 50, 5, 400),
        };
        args.rooms = rooms;
        args.subscribers = subscribers;
        args.senders = senders;
        args.rate = rate;
        args.window = 4;
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_set_the_shape_and_keep_the_rest() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: FanoutArgs,
        }
        let cli = Cli::parse_from(["bench", "--preset", "rate400", "--duration", "3"]);
        let args = cli.args.shaped();
        assert_eq!(
            (
                args.rooms,
                args.subscribers,
                args.senders,
                args.rate,
                args.window
            ),
            (1, 50, 5, 400, 4)
        );
        assert_eq!(args.duration, 3);
        let cli = Cli::parse_from(["bench", "--preset", "100x10"]);
        assert_eq!(cli.args.shaped().rooms, 100);
        let cli = Cli::parse_from(["bench", "--rooms", "7"]);
        assert_eq!(cli.args.shaped().rooms, 7, "no preset: as given");
    }
}
