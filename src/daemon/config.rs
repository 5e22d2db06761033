//! What the daemon runs: read from `--config cepheus.toml`, or from the flags `cepheus run`
//! shares with `cepheus daemon`. Both end up as one [`Settings`].
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cepheus_connectors::dead_letter::DeadLetterTarget;
use cepheus_connectors::duration::parse_duration;
use cepheus_connectors::pipeline::PipelineOptions;
use cepheus_connectors::sink::stdout::StdoutFormat;
use cepheus_connectors::sink::webhook::WebhookOptions;
use cepheus_connectors::sink::{SinkOptions, SinkTarget};
use serde::Deserialize;

use crate::run::RunArgs;

/// The admin API's default address (loopback only).
pub const DEFAULT_ADMIN: &str = "127.0.0.1:9464";

/// Where events come from.
#[derive(Debug, Clone)]
pub enum SourceSettings {
    Kafka {
        brokers: String,
        /// `NAME[:EventType]`, bound to schemas once the rules are loaded.
        topics: Vec<String>,
        group: String,
        from_beginning: bool,
    },
    /// A JSON-lines file (optionally followed); checkpoints are not restored for it.
    File { path: PathBuf, follow: bool },
}

#[derive(Debug, Clone)]
pub struct CheckpointSettings {
    pub dir: PathBuf,
    pub interval: Duration,
}

/// Limits applied to one rule by name, over what its text says.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RuleLimits {
    /// The most live pattern instances (`@Hint('max_instances=N')`).
    pub max_instances: Option<usize>,
}

/// Everything the daemon needs, however it was given.
#[derive(Debug, Clone)]
pub struct Settings {
    pub rules: Vec<PathBuf>,
    pub source: SourceSettings,
    pub event_type: Option<String>,
    /// librdkafka settings for every Kafka client (SSL, SASL, ...).
    pub kafka_options: Vec<(String, String)>,
    pub sinks: Vec<SinkTarget>,
    pub sink_options: SinkOptions,
    pub dead_letter: DeadLetterTarget,
    pub pipeline: PipelineOptions,
    pub checkpoint: Option<CheckpointSettings>,
    pub limits: BTreeMap<String, RuleLimits>,
    pub admin: SocketAddr,
    pub admin_token: Option<String>,
}

impl Settings {
    /// The Kafka brokers of the source, if it is Kafka.
    pub fn brokers(&self) -> Option<&str> {
        match &self.source {
            SourceSettings::Kafka { brokers, .. } => Some(brokers),
            SourceSettings::File { .. } => None,
        }
    }

    /// Refuses settings that cannot run: a non-loopback admin address without a token,
    /// no rules, checkpoints over a source that cannot seek.
    pub fn validate(&self) -> Result<(), String> {
        if !self.admin.ip().is_loopback() && self.admin_token.as_deref().is_none_or(str::is_empty) {
            return Err(format!(
                "the admin API would listen on {} (not loopback) without a token; pass \
                 --admin-token TOKEN (or `token` under [admin]) or bind it to 127.0.0.1",
                self.admin
            ));
        }
        if self.rules.is_empty() {
            return Err("no rules: pass --rules DIR (or `rules` in the config)".into());
        }
        if self.checkpoint.is_some() && !matches!(self.source, SourceSettings::Kafka { .. }) {
            return Err(
                "checkpoints need a Kafka source (a file cannot be sought back to the \
                 checkpointed position); drop --checkpoint-dir or consume Kafka topics"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Flags of `cepheus daemon` beyond those of `cepheus run`.
pub struct DaemonFlags {
    pub checkpoint_dir: Option<PathBuf>,
    pub checkpoint_interval: Duration,
    pub admin: SocketAddr,
    pub admin_token: Option<String>,
    pub limits: Vec<String>,
}

/// The flag form: `cepheus daemon --rules DIR --kafka .. --topic .. --checkpoint-dir ..`.
pub fn from_flags(run: &RunArgs, flags: DaemonFlags) -> Result<Settings, String> {
    let kafka_options = parse_kafka_options(&run.kafka_option)?;
    let source = if let Some(brokers) = &run.kafka {
        if run.topic.is_empty() {
            return Err("--kafka needs at least one --topic NAME[:EventType]".into());
        }
        SourceSettings::Kafka {
            brokers: brokers.clone(),
            topics: run.topic.clone(),
            group: run.group.clone(),
            from_beginning: run.from_beginning,
        }
    } else if let Some(path) = &run.input {
        SourceSettings::File {
            path: path.clone(),
            follow: run.follow,
        }
    } else {
        return Err("no source: pass --kafka BROKERS --topic NAME[:EventType] \
                    (or --input FILE --follow)"
            .into());
    };
    if run.generate.is_some() {
        return Err("the daemon does not run the generator; use `cepheus run --generate`".into());
    }
    let limits = flags
        .limits
        .iter()
        .map(|l| parse_limit(l))
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    Ok(Settings {
        rules: run.rules.clone(),
        sink_options: SinkOptions {
            stdout_format: run.format,
            file_rotate_bytes: run.rotate_bytes,
            webhook: WebhookOptions {
                timeout: run.webhook_timeout,
                attempts: run.webhook_attempts,
                ..WebhookOptions::default()
            },
            kafka_brokers: run.kafka.clone(),
            kafka_options: kafka_options.clone(),
        },
        source,
        event_type: run.event_type.clone(),
        kafka_options,
        sinks: run.sink.clone(),
        dead_letter: run.dead_letter.clone(),
        pipeline: PipelineOptions {
            allowed_lateness: run.allowed_lateness,
            idle_timeout: run.idle_timeout,
            max_record_bytes: run.max_record_bytes,
            ..PipelineOptions::default()
        },
        checkpoint: flags.checkpoint_dir.map(|dir| CheckpointSettings {
            dir,
            interval: flags.checkpoint_interval,
        }),
        limits,
        admin: flags.admin,
        admin_token: flags.admin_token,
    })
}

/// `--limit RULE:max_instances=N`.
fn parse_limit(spec: &str) -> Result<(String, RuleLimits), String> {
    let bad = || format!("--limit `{spec}` must be RULE:max_instances=N");
    let (rule, setting) = spec.split_once(':').ok_or_else(bad)?;
    let (key, value) = setting.split_once('=').ok_or_else(bad)?;
    if key != "max_instances" {
        return Err(format!("--limit `{spec}`: the only limit is max_instances"));
    }
    let n = value.parse().map_err(|_| bad())?;
    Ok((
        rule.to_string(),
        RuleLimits {
            max_instances: Some(n),
        },
    ))
}

fn parse_kafka_options(options: &[String]) -> Result<Vec<(String, String)>, String> {
    options
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("--kafka-option `{kv}` must be KEY=VALUE"))
        })
        .collect()
}

/// `cepheus.toml` as written (see docs/daemon.example.toml).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The rules directory (relative to the config file).
    pub rules: PathBuf,
    pub kafka: Option<KafkaSection>,
    pub input: Option<InputSection>,
    /// The event type of records that name none.
    pub event_type: Option<String>,
    #[serde(default = "default_sinks")]
    pub sinks: Vec<String>,
    #[serde(default)]
    pub sink_options: SinkSection,
    #[serde(default = "default_dead_letter")]
    pub dead_letter: String,
    #[serde(default)]
    pub pipeline: PipelineSection,
    pub checkpoint: Option<CheckpointSection>,
    #[serde(default)]
    pub limits: BTreeMap<String, RuleLimits>,
    #[serde(default)]
    pub admin: AdminSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSection {
    pub brokers: String,
    /// `NAME[:EventType]`.
    pub topics: Vec<String>,
    #[serde(default = "default_group")]
    pub group: String,
    #[serde(default)]
    pub from_beginning: bool,
    /// librdkafka settings (`security.protocol`, `sasl.*`, `ssl.*`), for every client.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSection {
    pub path: PathBuf,
    #[serde(default)]
    pub follow: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSection {
    pub format: Option<String>,
    pub rotate_bytes: Option<u64>,
    #[serde(default = "default_webhook_timeout")]
    pub webhook_timeout: String,
    #[serde(default = "default_webhook_attempts")]
    pub webhook_attempts: u32,
}

impl Default for SinkSection {
    fn default() -> Self {
        SinkSection {
            format: None,
            rotate_bytes: None,
            webhook_timeout: default_webhook_timeout(),
            webhook_attempts: default_webhook_attempts(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    #[serde(default = "zero")]
    pub allowed_lateness: String,
    #[serde(default = "five_seconds")]
    pub idle_timeout: String,
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
}

impl Default for PipelineSection {
    fn default() -> Self {
        PipelineSection {
            allowed_lateness: zero(),
            idle_timeout: five_seconds(),
            max_record_bytes: default_max_record_bytes(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSection {
    pub dir: PathBuf,
    #[serde(default = "ten_seconds")]
    pub interval: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    #[serde(default = "default_admin")]
    pub address: String,
    pub token: Option<String>,
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            address: default_admin(),
            token: None,
        }
    }
}

fn default_sinks() -> Vec<String> {
    vec!["stdout".into()]
}
fn default_dead_letter() -> String {
    "stderr".into()
}
fn default_group() -> String {
    "cepheus".into()
}
fn default_webhook_timeout() -> String {
    "10s".into()
}
fn default_webhook_attempts() -> u32 {
    6
}
fn zero() -> String {
    "0s".into()
}
fn five_seconds() -> String {
    "5s".into()
}
fn ten_seconds() -> String {
    "10s".into()
}
fn default_max_record_bytes() -> usize {
    1 << 20
}
fn default_admin() -> String {
    DEFAULT_ADMIN.into()
}

/// Reads and checks `path`; relative paths in it are relative to its folder.
pub fn from_file(path: &Path) -> Result<Settings, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the config {}: {e}", path.display()))?;
    let file: ConfigFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    settings_of(file, base).map_err(|e| format!("{}: {e}", path.display()))
}

/// Turns a parsed config into settings; `base` anchors relative paths.
pub fn settings_of(file: ConfigFile, base: &Path) -> Result<Settings, String> {
    let at = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let kafka_options: Vec<(String, String)> = file
        .kafka
        .as_ref()
        .map(|k| k.options.clone().into_iter().collect())
        .unwrap_or_default();
    let source = match (&file.kafka, &file.input) {
        (Some(_), Some(_)) => return Err("give either [kafka] or [input], not both".into()),
        (Some(k), None) => {
            if k.topics.is_empty() {
                return Err(
                    "[kafka] needs at least one topic, e.g. topics = [\"temps:TemperatureEvent\"]"
                        .into(),
                );
            }
            SourceSettings::Kafka {
                brokers: k.brokers.clone(),
                topics: k.topics.clone(),
                group: k.group.clone(),
                from_beginning: k.from_beginning,
            }
        }
        (None, Some(i)) => SourceSettings::File {
            path: at(&i.path),
            follow: i.follow,
        },
        (None, None) => return Err("no source: add a [kafka] section (or [input])".into()),
    };
    let sinks = file
        .sinks
        .iter()
        .map(|s| s.parse::<SinkTarget>())
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(|s| match s {
            SinkTarget::File(p) => SinkTarget::File(at(&p)),
            other => other,
        })
        .collect();
    let dead_letter = match file.dead_letter.parse::<DeadLetterTarget>()? {
        DeadLetterTarget::File(p) => DeadLetterTarget::File(at(&p)),
        other => other,
    };
    let stdout_format = match file.sink_options.format.as_deref() {
        None | Some("json") => StdoutFormat::Json,
        Some("table") => StdoutFormat::Table,
        Some(other) => return Err(format!("sink_options.format `{other}`: use json or table")),
    };
    let brokers = file.kafka.as_ref().map(|k| k.brokers.clone());
    let admin = file.admin.address.parse().map_err(|e| {
        format!(
            "admin.address `{}`: {e}; write IP:PORT, e.g. {DEFAULT_ADMIN}",
            file.admin.address
        )
    })?;
    Ok(Settings {
        rules: vec![at(&file.rules)],
        source,
        event_type: file.event_type,
        sink_options: SinkOptions {
            stdout_format,
            file_rotate_bytes: file.sink_options.rotate_bytes,
            webhook: WebhookOptions {
                timeout: parse_duration(&file.sink_options.webhook_timeout)?,
                attempts: file.sink_options.webhook_attempts,
                ..WebhookOptions::default()
            },
            kafka_brokers: brokers,
            kafka_options: kafka_options.clone(),
        },
        kafka_options,
        sinks,
        dead_letter,
        pipeline: PipelineOptions {
            allowed_lateness: parse_duration(&file.pipeline.allowed_lateness)?,
            idle_timeout: parse_duration(&file.pipeline.idle_timeout)?,
            max_record_bytes: file.pipeline.max_record_bytes,
            ..PipelineOptions::default()
        },
        checkpoint: match file.checkpoint {
            Some(c) => Some(CheckpointSettings {
                dir: at(&c.dir),
                interval: parse_duration(&c.interval)?,
            }),
            None => None,
        },
        limits: file.limits,
        admin,
        admin_token: file.admin.token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_flag_names_a_rule_and_a_count() {
        assert_eq!(
            parse_limit("burst:max_instances=10"),
            Ok((
                "burst".to_string(),
                RuleLimits {
                    max_instances: Some(10)
                }
            ))
        );
        assert!(parse_limit("burst:size=10").is_err());
        assert!(parse_limit("burst").is_err());
    }

    #[test]
    fn a_non_loopback_admin_needs_a_token() {
        let file: ConfigFile = toml::from_str(
            "rules = \"r\"\n[kafka]\nbrokers = \"b:9092\"\ntopics = [\"t:T\"]\n\
             [admin]\naddress = \"0.0.0.0:9464\"\n",
        )
        .expect("parses");
        let s = settings_of(file, Path::new("/etc/cepheus")).expect("settings");
        assert_eq!(s.rules, vec![PathBuf::from("/etc/cepheus/r")]);
        assert!(s.validate().is_err_and(|e| e.contains("--admin-token")));
        let mut with_token = s.clone();
        with_token.admin_token = Some("secret".into());
        assert!(with_token.validate().is_ok());
    }

    #[test]
    fn the_example_config_in_the_docs_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/daemon.example.toml");
        let s = from_file(&path).expect("the example config is valid");
        assert!(s.validate().is_ok());
        assert!(s.rules[0].ends_with("docs/../rules"));
        let SourceSettings::Kafka { topics, group, .. } = &s.source else {
            panic!("a Kafka source");
        };
        assert_eq!(topics.len(), 3);
        assert_eq!(group, "cepheus");
        assert_eq!(s.sinks.len(), 2);
        assert_eq!(
            s.dead_letter,
            DeadLetterTarget::Kafka("cepheus-dead-letters".into())
        );
        assert_eq!(s.pipeline.allowed_lateness, Duration::from_secs(2));
        assert_eq!(
            s.checkpoint.as_ref().map(|c| c.interval),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            s.limits["trade_whale_accumulation"].max_instances,
            Some(10_000)
        );
        assert!(
            s.kafka_options
                .contains(&("security.protocol".to_string(), "plaintext".to_string()))
        );
        // The example's rules load, and the limit names a real rule.
        let set = crate::daemon::reload::load(&s.rules, &s.limits).expect("the shipped rules");
        assert!(
            set.rules
                .iter()
                .any(|(n, _)| n == "trade_whale_accumulation")
        );
    }
}
