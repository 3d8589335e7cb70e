//! Command-line interface: `serve`, `route`, `eval`, `config check`. Each subcommand is a
//! thin wrapper around library functions so tests can call the same code.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, ConfigArg};

#[derive(Parser, Debug)]
#[command(
    name = "frugal",
    version,
    about = "An LLM gateway that sends each request to the cheapest model able to answer it"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start the gateway.
    Serve(ServeArgs),
    /// Explain how one prompt would be routed (no upstream call).
    Route(RouteArgs),
    /// Score the router on routing data: RouteLLM's APGR/CPT, or cost–quality over N models.
    Eval(frugal_core::eval::EvalArgs),
    /// Summarise the ledger: requests, cost, baseline, savings by source, quality.
    Report(crate::ledger::report::ReportArgs),
    /// Gateway keys in the ledger's database: create, list, show, disable, rotate.
    Keys(crate::limits::cli::KeysArgs),
    /// Write the raw ledger rows.
    Export(crate::ledger::report::ExportArgs),
    /// Replay a routing data set through the router and the feedback loop.
    Simulate(crate::ledger::simulate::SimulateArgs),
    /// Compress a request or conversation losslessly; report tokens per pass; `--check` it.
    Compress(frugal_core::compress_cli::CompressArgs),
    /// Learn the router model (stage-1 and stage-2 heads) from routing data.
    Train(frugal_core::train::TrainArgs),
    /// Measure a freshly trained router on task groups it never saw (APGR per fold).
    Crossval(frugal_core::train::crossval::CrossvalArgs),
    /// Distil a sentence-transformers model into a static embedding table.
    Distill(frugal_core::embed::distill::DistillArgs),
    /// Replay the verified cascade (cheap answer, checker, escalation) on recorded answers.
    Verify(crate::verify::VerifyArgs),
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Address to listen on (overrides server.listen); port 0 picks a free port.
    #[arg(long, env = "FRUGAL_LISTEN")]
    pub listen: Option<String>,
    /// Ledger: a SQLite file or a postgres:// URL (overrides [ledger] in the config).
    #[arg(long, env = "FRUGAL_LEDGER")]
    pub ledger: Option<String>,
}

#[derive(Args, Debug)]
pub struct RouteArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The prompt to route.
    #[arg(required_unless_present = "batch")]
    pub prompt: Option<String>,
    /// Route every row of a JSONL file (`id`, `prompt`, optional `turns`) offline and
    /// print one JSON decision per row.
    #[arg(long, conflicts_with = "prompt")]
    pub batch: Option<PathBuf>,
    /// The model field of the request ("auto", "frugal/eco", "frugal/premium", or a model).
    #[arg(long, default_value = "auto")]
    pub model: String,
    /// A router file from `frugal train` (overrides routing.router_model).
    #[arg(long)]
    pub router: Option<PathBuf>,
    /// With --batch: print each row's predicted quality for every model the router knows
    /// (`{"id", "predicted": {model: q}}`) instead of the routing decision.
    #[arg(long, requires = "batch")]
    pub predict: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate the configuration and print the resolved tiers and prices.
    Check(ConfigArg),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Route(args) => route(args),
        Command::Eval(args) => frugal_core::eval::eval_command(&args),
        Command::Report(args) => crate::ledger::report::report_command(&args),
        Command::Export(args) => crate::ledger::report::export_command(&args),
        Command::Keys(args) => crate::limits::cli::keys_command(&args),
        Command::Simulate(args) => crate::ledger::simulate::simulate_command(&args),
        Command::Compress(args) => frugal_core::compress_cli::run(&args),
        Command::Train(args) => frugal_core::train::run(&args),
        Command::Crossval(args) => frugal_core::train::crossval::run(&args),
        Command::Distill(args) => frugal_core::embed::distill::distill_command(&args),
        Command::Verify(args) => crate::verify::verify_command(&args),
        Command::Config {
            command: ConfigCommand::Check(args),
        } => config_check(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut cfg = args.config.load()?;
    if let Some(target) = &args.ledger {
        cfg.ledger.target = target.clone();
    }
    if !cfg.providers.values().any(|p| p.usable()) {
        anyhow::bail!(
            "no provider can be called: set OPENAI_API_KEY and/or ANTHROPIC_API_KEY, \
             or configure a provider with no_api_key = true in frugal.toml"
        );
    }
    let listen = args
        .listen
        .clone()
        .unwrap_or_else(|| cfg.server.listen.clone());
    // Load the tokenizers before the first request, not during it.
    crate::tokens::warm_up();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() && !cfg.require_key {
            anyhow::bail!(
                "refusing to listen on {addr} without requiring client keys: anyone who can reach it \
                 could spend your provider credit. Set `[auth] require_key = true` in frugal.toml and \
                 give clients keys (`frugal keys create NAME`, or `[keys.NAME] key_env = \"VAR\"`), \
                 or listen on 127.0.0.1 (docs/keys.md)"
            );
        }
        let ledger = crate::ledger::Ledger::open(&cfg.ledger).await?;
        let store = match cfg.ledger.enabled {
            true => Some(crate::limits::store::open(&cfg.ledger).await?),
            false => None,
        };
        let limits = Arc::new(crate::limits::Limits::new(&cfg, store));
        let stored = limits.load_keys().await?;
        if cfg.require_key && limits.keys().is_empty() {
            tracing::warn!("auth.require_key is on but no key exists yet: every request is refused until `frugal keys create` makes one");
        }
        tracing::info!(config_keys = cfg.keys.len(), stored_keys = stored, "client keys loaded");
        let state = crate::server::AppState::with_limits(Arc::new(cfg), ledger, limits)?;
        let router = state.pipeline.router().info.clone();
        tracing::info!(
            source = %router.source,
            fingerprint = %router.fingerprint,
            rows = router.rows,
            "router loaded (SIGHUP reloads it)"
        );
        crate::server::serve(listener, state).await
    })
}

fn route(args: RouteArgs) -> anyhow::Result<()> {
    let mut cfg = args.config.load()?;
    if let Some(r) = &args.router {
        cfg.routing.router_model = Some(r.clone());
    }
    if let Some(batch) = &args.batch {
        if args.predict {
            return predict(batch, &cfg);
        }
        return frugal_core::eval::route_batch_command(batch, &args.model, cfg);
    }
    if !cfg.providers.values().any(|p| p.usable()) {
        // Explaining a decision needs no upstream: plan as if every provider had a key.
        eprintln!("note: no provider API key is set; planning as if every provider had one");
        for p in cfg.providers.values_mut() {
            p.keyless = true;
        }
    }
    let cfg = Arc::new(cfg);
    let pipeline = crate::pipeline::Pipeline::new(cfg.clone())?;
    let req = crate::types::ChatRequest {
        model: args.model.clone(),
        messages: vec![crate::types::Message {
            role: crate::types::Role::User,
            content: vec![crate::types::Part::text(
                args.prompt.clone().unwrap_or_default(),
            )],
        }],
        ..Default::default()
    };
    let plan = pipeline.plan(&req, &crate::pipeline::RouteContext::default())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(());
    }
    println!("tier        {}", plan.tier);
    if let Some(c) = &plan.classification {
        println!(
            "score       {:.3}  (stage {}, confidence {:.2})",
            c.score, c.stage, c.confidence
        );
        let signals: Vec<String> = c
            .signals
            .iter()
            .take(5)
            .map(|(n, w)| format!("{n} {w:+.3}"))
            .collect();
        println!("signals     {}", signals.join(", "));
    }
    if let Some(first) = plan.candidates.first() {
        println!(
            "model       {}  (est. ${})",
            first.model,
            crate::cost::format_usd(first.est_cost_usd)
        );
    }
    if let (Some(b), Some(name)) = (plan.baseline_est_cost_usd, cfg.routing.baseline.as_deref()) {
        println!("baseline    {name}  (est. ${})", crate::cost::format_usd(b));
    }
    let fallbacks: Vec<&str> = plan
        .candidates
        .iter()
        .skip(1)
        .map(|c| c.model.as_str())
        .collect();
    println!("fallbacks   {}", fallbacks.join(" → "));
    println!("reason      {}", plan.reason);
    if !plan.estimates.is_empty() {
        println!("\nestimates (best first; utility = q − λ·cost/baseline − β·σ):");
        println!(
            "  {:<26} {:<9} {:>7} {:>7} {:>6} {:>12} {:>8}",
            "model", "tier", "q", "± σ", "rated", "est. $", "utility"
        );
        for e in &plan.estimates {
            println!(
                "  {:<26} {:<9} {:>7.3} {:>7.3} {:>6} {:>12.8} {:>8.3}{}",
                e.model,
                e.tier.as_str(),
                e.q,
                e.sigma,
                e.neighbours,
                e.est_cost_usd,
                e.utility,
                if e.eligible {
                    ""
                } else {
                    "  (below the floor)"
                }
            );
        }
    }
    Ok(())
}

/// `route --batch --predict`: per-model quality estimates of every row.
fn predict(batch: &std::path::Path, cfg: &Config) -> anyhow::Result<()> {
    let model = match &cfg.routing.router_model {
        Some(p) => crate::pipeline::classify::model::RouterModel::load(p)?,
        None => crate::pipeline::classify::model::RouterModel::embedded()?,
    };
    let store = model.quality.ok_or_else(|| {
        anyhow::anyhow!(
            "this router has no per-model quality data: train one with `frugal train --data FILE… --out R`              and pass --router R"
        )
    })?;
    let embedder = crate::quality::embedder_for(&store, cfg.routing.embedding_model.as_deref())?;
    let predictor = crate::quality::Predictor::new(&store, &embedder)?;
    frugal_core::eval::write_batch(batch, &|row| predictor.predict(row), "predicted")
}

fn config_check(args: ConfigArg) -> anyhow::Result<()> {
    let cfg = args.load()?;
    let src = cfg
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "built-in catalogue only".into());
    println!("configuration OK ({src})\n");
    println!("providers:");
    for p in cfg.providers.values() {
        let key = if p.keyless {
            "no key needed".to_string()
        } else if p.api_key.is_some() {
            format!("key from {}", p.api_key_env.as_deref().unwrap_or("?"))
        } else {
            format!(
                "NO KEY ({} unset): its models are not routed",
                p.api_key_env.as_deref().unwrap_or("?")
            )
        };
        println!(
            "  {:<12} {:<10} {:<40} {key}",
            p.name,
            p.kind.format().as_str(),
            p.base_url
        );
    }
    let b = cfg.routing.boundaries;
    println!(
        "\nboundaries: simple < {} ≤ medium < {} ≤ complex < {} ≤ frontier",
        b[0], b[1], b[2]
    );
    println!(
        "baseline:   {}\n",
        cfg.routing.baseline.as_deref().unwrap_or("(none)")
    );
    println!(
        "{:<10} {:<26} {:>9} {:>9} {:>9} {:>9}  {:>9}  avail",
        "tier", "model", "in $/M", "out $/M", "cache rd", "cache wr", "context"
    );
    for (tier, models) in &cfg.routing.tiers {
        for name in models {
            let Some(m) = cfg.model(name) else { continue };
            println!(
                "{:<10} {:<26} {:>9} {:>9} {:>9} {:>9}  {:>9}  {}",
                tier.as_str(),
                name,
                m.prices.input,
                m.prices.output,
                m.prices.cached_input,
                m.prices.cache_write,
                m.context_window,
                if cfg.routable(m) { "yes" } else { "no" }
            );
        }
    }
    for (name, p) in &cfg.routing.profiles {
        println!(
            "\nprofile frugal/{name}: boundary shift {:+}, min tier {}",
            p.boundary_shift,
            p.min_tier.map(|t| t.as_str()).unwrap_or("none")
        );
    }
    Ok(())
}
