//! How often an integration's sync runs, as stored (minutes) and as chosen on its page.

/// How often an integration's sync runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    Off,
    Every15Minutes,
    Hourly,
    Daily,
}

impl Schedule {
    pub const ALL: [Schedule; 4] = [
        Schedule::Off,
        Schedule::Every15Minutes,
        Schedule::Hourly,
        Schedule::Daily,
    ];

    pub fn parse(value: &str) -> Option<Schedule> {
        Schedule::ALL.into_iter().find(|s| s.value() == value)
    }

    pub fn from_minutes(minutes: Option<i32>) -> Schedule {
        Schedule::ALL
            .into_iter()
            .find(|s| s.minutes() == minutes)
            .unwrap_or(Schedule::Off)
    }

    pub fn minutes(self) -> Option<i32> {
        match self {
            Schedule::Off => None,
            Schedule::Every15Minutes => Some(15),
            Schedule::Hourly => Some(60),
            Schedule::Daily => Some(1440),
        }
    }

    pub fn value(self) -> &'static str {
        match self {
            Schedule::Off => "off",
            Schedule::Every15Minutes => "15m",
            Schedule::Hourly => "hourly",
            Schedule::Daily => "daily",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Schedule::Off => "Off",
            Schedule::Every15Minutes => "Every 15 minutes",
            Schedule::Hourly => "Hourly",
            Schedule::Daily => "Daily",
        }
    }
}
