//! What the simulator's integration tests share.

use meshpay_sim::scenario::{DEFAULT_SCENARIO, Scenario};

/// The default scenario shortened so debug-build tests stay fast.
pub fn small() -> Scenario {
    let text = DEFAULT_SCENARIO
        .replace("nodes = 5", "nodes = 3")
        .replace("duration_s = 600", "duration_s = 240")
        .replace("settle_s = 120", "settle_s = 60")
        .replace("at_s = 300", "at_s = 150")
        .replace("at_s = 120", "at_s = 90")
        .replace("payments_per_minute = 20", "payments_per_minute = 10");
    Scenario::parse(&text).expect("valid")
}
