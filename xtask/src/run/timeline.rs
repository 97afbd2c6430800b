//! A run as a timeline: where each service's time went (waiting for what
//! it needs, packaging ahead, the CLI's start and upload, CloudFormation),
//! the run's own steps after them, and the critical path — the chain of
//! services, each waiting on the one before, that set the run's length.
//! Drawn as text, as a Mermaid Gantt chart (a CI run summary) and as SVG.
//! Pure functions of the journal.

use std::collections::BTreeMap;

use crate::run::journal::{Journal, ServiceRecord, Span};

/// What a stretch of a service's time was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Waiting for the services it needs.
    Waiting,
    /// Its dependencies done, waiting for a free place or its package.
    Queued,
    /// Packaged ahead of its turn.
    Package,
    /// The CLI's deploy before CloudFormation: its start, packaging when
    /// not done ahead, the upload.
    Cli,
    /// The CloudFormation operation, first to last stack event.
    CloudFormation,
    /// One of the run's own steps (smoke, bake).
    Step,
}

impl Part {
    pub fn label(self) -> &'static str {
        match self {
            Part::Waiting => "waiting for what it needs",
            Part::Queued => "queued",
            Part::Package => "packaged ahead",
            Part::Cli => "CLI start, package, upload",
            Part::CloudFormation => "CloudFormation",
            Part::Step => "step",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Part::Waiting => "#e8e8e8",
            Part::Queued => "#c8c8c8",
            Part::Package => "#5b8def",
            Part::Cli => "#f0a030",
            Part::CloudFormation => "#3aa876",
            Part::Step => "#9b6bd0",
        }
    }
}

/// One bar of the timeline, in milliseconds from the run's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub part: Part,
    pub start: u64,
    pub end: u64,
    pub critical: bool,
}

/// One row: a service, or a step of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub name: String,
    pub bars: Vec<Bar>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    pub title: String,
    pub rows: Vec<Row>,
    /// The critical path, first service first.
    pub critical: Vec<String>,
    /// From the first timed moment to the last, in milliseconds.
    pub length: u64,
    /// From the first timed moment to the end of the last service's
    /// deploy: the deploy without the run's later steps.
    pub deployed: u64,
}

impl Timeline {
    /// The timeline of `journal`; `None` for a run that timed nothing (a
    /// journal older than timings, or a run that deployed nothing).
    pub fn of(journal: &Journal) -> Option<Timeline> {
        let spans = journal.services.iter().flat_map(|s| {
            let t = &s.timings;
            [t.package, t.deploy, t.cloudformation]
                .into_iter()
                .flatten()
                .chain(t.ready.map(|r| Span { start: r, end: r }))
        });
        let all: Vec<Span> = spans.chain(journal.phases.values().copied()).collect();
        let origin = all.iter().map(|s| s.start).min()?;
        let last = all.iter().map(|s| s.end).max()?;
        let at = |t: u64| t.saturating_sub(origin);
        let critical = critical_path(&journal.services);
        let mut rows = Vec::new();
        for s in &journal.services {
            let t = &s.timings;
            let Some(deploy) = t.deploy else {
                continue;
            };
            let on_path = critical.contains(&s.name);
            let mut bars = Vec::new();
            let ready = t.ready.unwrap_or(origin).min(deploy.start);
            if ready > origin {
                bars.push(Bar {
                    part: Part::Waiting,
                    start: 0,
                    end: at(ready),
                    critical: false,
                });
            }
            if deploy.start > ready {
                bars.push(Bar {
                    part: Part::Queued,
                    start: at(ready),
                    end: at(deploy.start),
                    critical: false,
                });
            }
            if let Some(package) = t.package {
                let package_critical = on_path && waited_on_package(s, &journal.services);
                bars.push(Bar {
                    part: Part::Package,
                    start: at(package.start),
                    end: at(package.end),
                    critical: package_critical,
                });
            }
            let cfn = t.cloudformation.filter(|c| c.start >= deploy.start);
            let cli_end = cfn.map_or(deploy.end, |c| c.start);
            bars.push(Bar {
                part: Part::Cli,
                start: at(deploy.start),
                end: at(cli_end),
                critical: on_path,
            });
            if let Some(cfn) = cfn {
                bars.push(Bar {
                    part: Part::CloudFormation,
                    start: at(cfn.start),
                    end: at(cfn.end.max(cfn.start)),
                    critical: on_path,
                });
                if deploy.end > cfn.end {
                    bars.push(Bar {
                        part: Part::Cli,
                        start: at(cfn.end),
                        end: at(deploy.end),
                        critical: on_path,
                    });
                }
            }
            rows.push(Row {
                name: s.name.clone(),
                bars,
            });
        }
        let mut steps: Vec<(&String, &Span)> = journal.phases.iter().collect();
        steps.sort_by_key(|(_, span)| span.start);
        for (name, span) in steps {
            rows.push(Row {
                name: name.clone(),
                bars: vec![Bar {
                    part: Part::Step,
                    start: at(span.start),
                    end: at(span.end),
                    critical: false,
                }],
            });
        }
        let deployed = journal
            .services
            .iter()
            .filter_map(|s| s.timings.deploy.map(|d| at(d.end)))
            .max()
            .unwrap_or(0);
        Some(Timeline {
            deployed,
            title: format!(
                "{} {} — run {} ({})",
                journal.command,
                journal.stage,
                journal.run_id,
                journal
                    .outcome
                    .as_ref()
                    .map_or("unfinished".to_string(), ToString::to_string)
            ),
            rows,
            critical,
            length: last - origin,
        })
    }

    /// A table of each service's parts, the critical path, and a bar per
    /// service drawn in text.
    pub fn text(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(7)
            .max(7);
        let secs = |ms: u64| format!("{:.1}s", ms as f64 / 1000.0);
        let mut out = format!("{}\n", self.title);
        out.push_str(&format!(
            "{:width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}\n",
            "", "waited", "queued", "packaged", "cli", "cfn", "ended"
        ));
        for row in &self.rows {
            let sum = |part: Part| -> u64 {
                row.bars
                    .iter()
                    .filter(|b| b.part == part)
                    .map(|b| b.end - b.start)
                    .sum()
            };
            let ended = row.bars.iter().map(|b| b.end).max().unwrap_or(0);
            let cell = |part: Part| {
                if row.bars.iter().any(|b| b.part == part) {
                    secs(sum(part))
                } else {
                    "-".into()
                }
            };
            let mark = if self.critical.contains(&row.name) {
                "  ◆ critical path"
            } else {
                ""
            };
            if row.bars.iter().all(|b| b.part == Part::Step) {
                out.push_str(&format!(
                    "{:width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}\n",
                    row.name,
                    "",
                    "",
                    "",
                    "",
                    secs(sum(Part::Step)),
                    secs(ended)
                ));
                continue;
            }
            out.push_str(&format!(
                "{:width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}{mark}\n",
                row.name,
                cell(Part::Waiting),
                cell(Part::Queued),
                cell(Part::Package),
                cell(Part::Cli),
                cell(Part::CloudFormation),
                secs(ended)
            ));
        }
        out.push('\n');
        let columns = 60u64;
        let scale = |ms: u64| (ms * columns).checked_div(self.length).unwrap_or(0) as usize;
        for row in &self.rows {
            let mut line = vec![' '; columns as usize + 1];
            for bar in &row.bars {
                let glyph = match bar.part {
                    Part::Waiting => '·',
                    Part::Queued => '-',
                    Part::Package => 'p',
                    Part::Cli => 'c',
                    Part::CloudFormation => '█',
                    Part::Step => '=',
                };
                let (a, b) = (scale(bar.start), scale(bar.end).max(scale(bar.start) + 1));
                for cell in line.iter_mut().take(b.min(columns as usize + 1)).skip(a) {
                    *cell = glyph;
                }
            }
            let line: String = line.into_iter().collect();
            out.push_str(&format!("{:width$}  |{}|\n", row.name, line.trim_end()));
        }
        out.push_str(&format!(
            "{:width$}   · waiting  - queued  p packaged ahead  c CLI (start, package, upload)  █ CloudFormation  = step\n",
            ""
        ));
        out.push_str(&format!(
            "critical path: {} (the services deployed in {}; the run took {})\n",
            if self.critical.is_empty() {
                "-".to_string()
            } else {
                self.critical.join(" → ")
            },
            secs(self.deployed),
            secs(self.length)
        ));
        out
    }

    /// A Mermaid Gantt chart, the critical path's bars marked `crit`.
    pub fn mermaid(&self) -> String {
        let clean = |t: &str| t.replace([':', '#', ';'], " ");
        let mut out = format!(
            "gantt\n    title {}\n    dateFormat x\n    axisFormat %M:%S\n",
            clean(&self.title)
        );
        for row in &self.rows {
            out.push_str(&format!("    section {}\n", clean(&row.name)));
            for bar in &row.bars {
                let tag = if bar.critical { "crit, " } else { "" };
                out.push_str(&format!(
                    "    {} :{tag}{}, {}\n",
                    bar.part.label(),
                    bar.start,
                    bar.end.max(bar.start + 1)
                ));
            }
        }
        out
    }

    /// The timeline as an SVG picture: a row per service and step, the
    /// critical path outlined.
    pub fn svg(&self) -> String {
        let escape = |t: &str| {
            t.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        };
        let (left, row_height, width, top) = (170.0, 26.0, 900.0, 70.0);
        let plot = width - left - 20.0;
        let length = self.length.max(1) as f64;
        let x = |ms: u64| left + ms as f64 / length * plot;
        let height = top + self.rows.len() as f64 * row_height + 70.0;
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n<text x=\"10\" y=\"20\" font-size=\"14\">{}</text>\n<text x=\"10\" y=\"38\" fill=\"#555\">{}</text>\n",
            escape(&self.title),
            escape(&format!(
                "services deployed in {:.1} s, the run took {:.1} s; critical path (outlined): {}",
                self.deployed as f64 / 1000.0,
                self.length as f64 / 1000.0,
                self.critical.join(" → ")
            ))
        );
        // Seconds along the top.
        let step = [1000u64, 2000, 5000, 10_000, 30_000, 60_000, 300_000]
            .into_iter()
            .find(|s| self.length / s <= 12)
            .unwrap_or(600_000);
        let mut tick = 0;
        while tick <= self.length {
            out.push_str(&format!(
                "<line x1=\"{0:.1}\" y1=\"{1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"#eee\"/>\n<text x=\"{0:.1}\" y=\"{3}\" fill=\"#888\" text-anchor=\"middle\">{4}s</text>\n",
                x(tick),
                top - 6.0,
                top + self.rows.len() as f64 * row_height,
                top - 9.0,
                tick / 1000
            ));
            tick += step;
        }
        for (i, row) in self.rows.iter().enumerate() {
            let y = top + i as f64 * row_height;
            out.push_str(&format!(
                "<text x=\"10\" y=\"{:.1}\">{}</text>\n",
                y + 16.0,
                escape(&row.name)
            ));
            for bar in &row.bars {
                let (x0, x1) = (x(bar.start), x(bar.end));
                let stroke = if bar.critical {
                    " stroke=\"#c0392b\" stroke-width=\"2\""
                } else {
                    ""
                };
                // A package made ahead runs while the service waits: a
                // slimmer bar over the waiting one.
                let (top_y, height) = if bar.part == Part::Package {
                    (y + 4.0, 11.0)
                } else {
                    (y + 4.0, 18.0)
                };
                out.push_str(&format!(
                    "<rect x=\"{x0:.1}\" y=\"{top_y:.1}\" width=\"{:.1}\" height=\"{height}\" fill=\"{}\"{stroke}><title>{}: {:.2}s</title></rect>\n",
                    (x1 - x0).max(1.0),
                    bar.part.colour(),
                    escape(bar.part.label()),
                    (bar.end - bar.start) as f64 / 1000.0
                ));
            }
        }
        let legend_y = top + self.rows.len() as f64 * row_height + 24.0;
        let mut lx = 10.0;
        for part in [
            Part::Waiting,
            Part::Queued,
            Part::Package,
            Part::Cli,
            Part::CloudFormation,
            Part::Step,
        ] {
            out.push_str(&format!(
                "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{legend_y:.1}\">{}</text>\n",
                legend_y - 10.0,
                part.colour(),
                lx + 16.0,
                escape(part.label())
            ));
            lx += 30.0 + part.label().chars().count() as f64 * 7.0;
        }
        out.push_str("</svg>\n");
        out
    }
}

/// Whether `service` waited for its own package rather than for the
/// services it needs: the package ended after they all did.
fn waited_on_package(service: &ServiceRecord, all: &[ServiceRecord]) -> bool {
    let Some(package) = service.timings.package else {
        return false;
    };
    let needs_done = service
        .needs
        .iter()
        .filter_map(|n| all.iter().find(|s| &s.name == n))
        .filter_map(|s| s.timings.deploy.map(|d| d.end))
        .max()
        .unwrap_or(0);
    package.end > needs_done
}

/// The chain that set the run's length: from the service whose deploy
/// ended last, back through what each waited for last — the service it
/// needs that ended last, or its own package — to one that waited for
/// nothing. First service first.
fn critical_path(services: &[ServiceRecord]) -> Vec<String> {
    let by_name: BTreeMap<&str, &ServiceRecord> =
        services.iter().map(|s| (s.name.as_str(), s)).collect();
    let end = |s: &ServiceRecord| s.timings.deploy.map(|d| d.end);
    let Some(mut current) = services
        .iter()
        .filter(|s| end(s).is_some())
        .max_by_key(|s| end(s))
    else {
        return Vec::new();
    };
    let mut path = vec![current.name.clone()];
    while path.len() <= services.len() {
        if waited_on_package(current, services) {
            break;
        }
        let Some(previous) = current
            .needs
            .iter()
            .filter_map(|n| by_name.get(n.as_str()).copied())
            .filter(|s| end(s).is_some())
            .max_by_key(|s| end(s))
        else {
            break;
        };
        if path.contains(&previous.name) {
            break;
        }
        path.push(previous.name.clone());
        current = previous;
    }
    path.reverse();
    path
}

/// Draws the run's timeline beside its journal; the picture's path, or
/// `None` when the run timed nothing.
pub fn save_beside(journal: &Journal) -> Option<std::path::PathBuf> {
    let timeline = Timeline::of(journal)?;
    let path = journal.timeline_path();
    std::fs::write(&path, timeline.svg()).ok()?;
    Some(path)
}

/// Appends the run's Markdown summary, with its Gantt chart, to
/// `$GITHUB_STEP_SUMMARY` when that is set.
pub fn publish_summary(journal: &Journal) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return;
    };
    let mut text = journal.markdown();
    if let Some(timeline) = Timeline::of(journal) {
        text.push_str(&format!("\n```mermaid\n{}```\n", timeline.mermaid()));
    }
    use std::io::Write;
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(file, "{text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::journal::Timings;

    fn record(name: &str, needs: &[&str], timings: Timings) -> ServiceRecord {
        let mut r = ServiceRecord::pending(name, format!("{name}-dev"));
        r.needs = needs.iter().map(|n| n.to_string()).collect();
        r.timings = timings;
        r
    }

    fn span(start: u64, end: u64) -> Option<Span> {
        Some(Span { start, end })
    }

    /// data (0–2 s); images needs data, packaged at its turn (2–7 s);
    /// integration needs data, packaged ahead (0–5 s), deployed 5–7.5 s.
    fn three() -> Vec<ServiceRecord> {
        vec![
            record(
                "data",
                &[],
                Timings {
                    ready: Some(1000),
                    deploy: span(1000, 3000),
                    cloudformation: span(2500, 2900),
                    ..Timings::default()
                },
            ),
            record(
                "images",
                &["data"],
                Timings {
                    ready: Some(3000),
                    deploy: span(3000, 8000),
                    cloudformation: span(7000, 7800),
                    ..Timings::default()
                },
            ),
            record(
                "integration",
                &["data"],
                Timings {
                    ready: Some(3000),
                    package: span(1000, 6000),
                    deploy: span(6000, 8500),
                    cloudformation: span(8000, 8400),
                },
            ),
        ]
    }

    #[test]
    fn the_critical_path_follows_what_each_service_waited_for_last() {
        // integration ended last, and waited for its package (which ended
        // after data): the path is its package alone.
        assert_eq!(critical_path(&three()), ["integration"]);
        // Had its package ended before data, it would have waited for data.
        let mut early = three();
        early[2].timings.package = span(1000, 2000);
        assert_eq!(critical_path(&early), ["data", "integration"]);
        // images ending last: data, then images.
        let mut slow = three();
        slow[1].timings.deploy = span(3000, 9000);
        assert_eq!(critical_path(&slow), ["data", "images"]);
    }

    #[test]
    fn the_timeline_splits_each_deploy_at_cloudformation() {
        let mut journal = crate::run::journal::Journal::for_tests("deploy", "dev");
        journal.services = three();
        journal.phases.insert(
            "smoke".into(),
            Span {
                start: 8600,
                end: 9600,
            },
        );
        let timeline = Timeline::of(&journal).expect("timed");
        assert_eq!(timeline.length, 8600);
        assert_eq!(timeline.deployed, 7500);
        let images = &timeline.rows[1];
        assert_eq!(images.name, "images");
        let parts: Vec<(Part, u64, u64)> = images
            .bars
            .iter()
            .map(|b| (b.part, b.start, b.end))
            .collect();
        assert_eq!(
            parts,
            [
                (Part::Waiting, 0, 2000),
                (Part::Cli, 2000, 6000),
                (Part::CloudFormation, 6000, 6800),
                (Part::Cli, 6800, 7000),
            ]
        );
        let integration = &timeline.rows[2];
        assert!(integration
            .bars
            .iter()
            .any(|b| b.part == Part::Package && b.critical && (b.start, b.end) == (0, 5000)));
        assert!(integration
            .bars
            .iter()
            .any(|b| b.part == Part::Queued && (b.start, b.end) == (2000, 5000)));
        assert_eq!(timeline.rows[3].name, "smoke");
        let mermaid = timeline.mermaid();
        assert!(
            mermaid.contains("section integration\n    waiting"),
            "{mermaid}"
        );
        assert!(
            mermaid.contains("packaged ahead :crit, 0, 5000"),
            "{mermaid}"
        );
        assert!(!mermaid.contains("CloudFormation :crit, 6000"), "{mermaid}");
        let svg = timeline.svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(timeline.text().contains("integration"));
    }

    #[test]
    fn a_journal_without_timings_has_no_timeline() {
        let mut journal = crate::run::journal::Journal::for_tests("deploy", "dev");
        journal.services = vec![record("data", &[], Timings::default())];
        assert!(Timeline::of(&journal).is_none());
    }
}
