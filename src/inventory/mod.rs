//! The consolidation inventory (pure): which Ressort runs which Fachverfahren for which
//! `Verwaltungsaufgabe`, and where several Fachverfahren serve the same task.
//!
//! [`Inventory::build`] groups onboardings under the tasks they name with the controller's own
//! [`crate::controller::aufgabe::compute`], so that the offline report, the live report and the
//! tasks' status agree; [`render`] writes it as a table, CSV, JSON, Markdown or Backstage entities.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;

use jiff::Timestamp;
use kube::ResourceExt;
use serde::Serialize;
use serde_json::{Value, json};

use crate::api::{
    AufgabeKind, FachverfahrenOnboarding, Ressort, Solution, Verwaltungsaufgabe,
    VerwaltungsaufgabeSpec, VerwaltungsaufgabeStatus,
};
use crate::controller::aufgabe::compute;

pub mod cost;
pub mod page;
pub mod serve;

/// What the inventory says about one task.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// The task's name (`spec.aufgabe` of its onboardings). Empty for the onboardings that name none.
    pub name: String,
    /// Its display name.
    pub display_name: String,
    /// `Querschnitt` or `Fachaufgabe`; `None` when no `Verwaltungsaufgabe` of the name exists.
    pub kind: Option<AufgabeKind>,
    /// The Ressort responsible for consolidating it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Whether more than one Fachverfahren serves it.
    pub parallel: bool,
    /// Distinct Ressorts among the solutions.
    pub ressorts: i32,
    /// Distinct Fachverfahren among the solutions.
    pub fachverfahren: i32,
    /// The onboardings that name it.
    pub solutions: Vec<Solution>,
}

/// The whole inventory: the tasks in name order, then onboardings that name a task that does not
/// exist, then those that name none.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Inventory {
    /// The tasks.
    pub tasks: Vec<Task>,
    /// Ressort name → display name, for the Backstage domains.
    #[serde(skip)]
    pub ressorts: BTreeMap<String, String>,
}

/// The display name the report gives the onboardings that name no task.
pub const NO_TASK: &str = "(names no Verwaltungsaufgabe)";

impl Inventory {
    /// Groups `onboardings` under `tasks` (pure).
    pub fn build(
        tasks: &[Verwaltungsaufgabe],
        onboardings: &[FachverfahrenOnboarding],
        ressorts: &[Ressort],
    ) -> Inventory {
        let onboardings: Vec<Arc<FachverfahrenOnboarding>> =
            onboardings.iter().cloned().map(Arc::new).collect();
        let known: BTreeSet<String> = tasks.iter().map(|t| t.name_any()).collect();
        let mut out: Vec<Task> = tasks
            .iter()
            .map(|t| entry(t, &compute(t, &onboardings, Timestamp::UNIX_EPOCH), true))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        // Names without a task, and the onboardings that name none: a placeholder task each, so
        // that every onboarding appears exactly once.
        let unknown: BTreeSet<String> = onboardings
            .iter()
            .filter_map(|o| o.spec.aufgabe.clone())
            .filter(|a| !known.contains(a))
            .collect();
        for name in unknown {
            let placeholder = placeholder(&name, &format!("(no Verwaltungsaufgabe {name})"));
            let status = compute(&placeholder, &onboardings, Timestamp::UNIX_EPOCH);
            out.push(entry(&placeholder, &status, false));
        }
        let unnamed: Vec<Arc<FachverfahrenOnboarding>> = onboardings
            .iter()
            .filter(|o| o.spec.aufgabe.is_none())
            .map(|o| {
                let mut named = (**o).clone();
                named.spec.aufgabe = Some(String::new());
                Arc::new(named)
            })
            .collect();
        if !unnamed.is_empty() {
            let placeholder = placeholder("", NO_TASK);
            let mut t = entry(
                &placeholder,
                &compute(&placeholder, &unnamed, Timestamp::UNIX_EPOCH),
                false,
            );
            // Unrelated Fachverfahren without a task are not parallel solutions of anything.
            t.parallel = false;
            out.push(t);
        }
        Inventory {
            tasks: out,
            ressorts: ressorts
                .iter()
                .map(|r| (r.name_any(), r.spec.display_name.clone()))
                .collect(),
        }
    }

    /// Only the tasks that more than one Fachverfahren serves.
    pub fn parallel_only(mut self) -> Inventory {
        self.tasks.retain(|t| t.parallel);
        self
    }
}

fn placeholder(name: &str, display_name: &str) -> Verwaltungsaufgabe {
    Verwaltungsaufgabe::new(
        name,
        VerwaltungsaufgabeSpec {
            display_name: display_name.to_string(),
            kind: AufgabeKind::Fachaufgabe,
            number: None,
            description: None,
            owner: None,
        },
    )
}

fn entry(task: &Verwaltungsaufgabe, status: &VerwaltungsaufgabeStatus, known: bool) -> Task {
    Task {
        name: task.name_any(),
        display_name: task.spec.display_name.clone(),
        kind: known.then_some(task.spec.kind),
        owner: task.spec.owner.clone(),
        parallel: status
            .conditions
            .iter()
            .any(|c| c.type_ == crate::api::conditions::PARALLEL_SOLUTIONS && c.status == "True"),
        ressorts: status.ressorts,
        fachverfahren: status.fachverfahren,
        solutions: status.solutions.clone(),
    }
}

/// Output formats of the inventory.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a terminal.
    Table,
    /// One row per task and solution, for a spreadsheet: UTF-8 with a byte-order mark and `;`
    /// between fields, as spreadsheets in a German locale open it without an import dialog.
    Csv,
    /// `{"tasks": [...]}` with every solution.
    Json,
    /// A Markdown table.
    Markdown,
    /// Backstage catalog entities (`catalog-info.yaml`): a Domain per Ressort, a System per
    /// Fachverfahren, a Resource per environment.
    Backstage,
}

/// The columns of the row formats, in order.
const COLUMNS: [&str; 13] = [
    "aufgabe",
    "aufgabe_name",
    "kind",
    "parallel",
    "ressort",
    "fachverfahren",
    "fachverfahren_name",
    "onboarding",
    "owner_organisation",
    "environments",
    "protection_level",
    "ready",
    "conformance_score",
];

/// One row per task and solution; a task without solutions gets one row with empty solution fields.
fn rows(inv: &Inventory) -> Vec<[String; 13]> {
    let mut out = Vec::new();
    for t in &inv.tasks {
        let task = [
            t.name.clone(),
            t.display_name.clone(),
            t.kind.map(|k| k.as_str().to_string()).unwrap_or_default(),
            yes_no(t.parallel).to_string(),
        ];
        if t.solutions.is_empty() {
            out.push(std::array::from_fn(|i| {
                task.get(i).cloned().unwrap_or_default()
            }));
        }
        for s in &t.solutions {
            let solution = [
                s.ressort.clone(),
                s.fachverfahren.clone(),
                s.display_name.clone(),
                s.onboarding.clone(),
                s.owner_organisation.clone(),
                s.environments.join(" "),
                s.protection_level.as_str().to_string(),
                yes_no(s.ready).to_string(),
                s.conformance_score
                    .map(|x| x.to_string())
                    .unwrap_or_default(),
            ];
            out.push(std::array::from_fn(|i| {
                task.get(i)
                    .or_else(|| solution.get(i - task.len()))
                    .cloned()
                    .unwrap_or_default()
            }));
        }
    }
    out
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Renders the inventory.
pub fn render(inv: &Inventory, format: Format) -> String {
    match format {
        Format::Table => table(inv),
        Format::Csv => csv(inv),
        Format::Json => {
            serde_json::to_string_pretty(&json!({"tasks": inv.tasks})).unwrap_or_default() + "\n"
        }
        Format::Markdown => markdown(inv),
        Format::Backstage => backstage(inv),
    }
}

fn table(inv: &Inventory) -> String {
    // The columns a terminal has room for.
    const SHOWN: [usize; 9] = [0, 2, 3, 4, 5, 7, 9, 11, 12];
    let rows = rows(inv);
    let header: Vec<String> = SHOWN.iter().map(|&i| COLUMNS[i].to_uppercase()).collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| SHOWN.iter().map(|&i| r[i].clone()).collect())
        .collect();
    let widths: Vec<usize> = (0..SHOWN.len())
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in std::iter::once(&header).chain(&cells) {
        let text: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(text.join("   ").trim_end());
        out.push('\n');
    }
    out
}

fn csv_field(field: &str) -> String {
    if field.contains([';', '"', '\n', '\r', ',']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

fn csv(inv: &Inventory) -> String {
    let mut out = String::from("\u{feff}");
    let line = |fields: &mut dyn Iterator<Item = String>| {
        fields.map(|f| csv_field(&f)).collect::<Vec<_>>().join(";") + "\r\n"
    };
    out.push_str(&line(&mut COLUMNS.iter().map(|c| c.to_string())));
    for r in rows(inv) {
        out.push_str(&line(&mut r.into_iter()));
    }
    out
}

fn markdown(inv: &Inventory) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", COLUMNS.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(COLUMNS.len()));
    for r in rows(inv) {
        let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

/// The Backstage entities: Domain per Ressort, System per Fachverfahren, Resource per environment.
fn backstage(inv: &Inventory) -> String {
    let mut domains: BTreeMap<String, Value> = BTreeMap::new();
    let mut systems: BTreeMap<String, Value> = BTreeMap::new();
    let mut resources: BTreeMap<String, Value> = BTreeMap::new();
    for t in &inv.tasks {
        for s in &t.solutions {
            let owner = format!("group:default/{}", s.ressort);
            domains.entry(s.ressort.clone()).or_insert_with(|| {
                let title = inv
                    .ressorts
                    .get(&s.ressort)
                    .cloned()
                    .unwrap_or_else(|| s.ressort.clone());
                json!({
                    "apiVersion": "backstage.io/v1alpha1",
                    "kind": "Domain",
                    "metadata": {"name": s.ressort, "title": title},
                    "spec": {"owner": owner},
                })
            });
            let system = format!("{}-{}", s.ressort, s.fachverfahren);
            let mut labels = serde_json::Map::new();
            if !t.name.is_empty() && t.kind.is_some() {
                labels.insert("conplus.niedersachsen.de/aufgabe".into(), json!(t.name));
            }
            systems.entry(system.clone()).or_insert_with(|| {
                json!({
                    "apiVersion": "backstage.io/v1alpha1",
                    "kind": "System",
                    "metadata": {
                        "name": system,
                        "title": s.display_name,
                        "description": format!("{} ({})", t.display_name, s.owner_organisation),
                        "labels": labels,
                        "annotations": {"conplus.niedersachsen.de/onboarding": s.onboarding},
                    },
                    "spec": {"owner": owner, "domain": s.ressort},
                })
            });
            for env in &s.environments {
                let name = format!("{system}-{env}");
                resources.entry(name.clone()).or_insert_with(|| {
                    json!({
                        "apiVersion": "backstage.io/v1alpha1",
                        "kind": "Resource",
                        "metadata": {
                            "name": name,
                            "title": format!("{} – {env}", s.display_name),
                            "annotations": {"backstage.io/kubernetes-namespace": name},
                        },
                        "spec": {"type": "kubernetes-namespace", "owner": owner, "system": system},
                    })
                });
            }
        }
    }
    let mut out = String::new();
    for entity in domains
        .values()
        .chain(systems.values())
        .chain(resources.values())
    {
        out.push_str("---\n");
        out.push_str(&crate::api::to_yaml(entity).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::moin_schule;

    fn task(name: &str, kind: AufgabeKind) -> Verwaltungsaufgabe {
        Verwaltungsaufgabe::new(
            name,
            VerwaltungsaufgabeSpec {
                display_name: format!("Aufgabe {name}"),
                kind,
                number: None,
                description: None,
                owner: None,
            },
        )
    }

    fn onboarding(ressort: &str, fv: &str, aufgabe: Option<&str>) -> FachverfahrenOnboarding {
        let mut o = moin_schule();
        o.metadata.name = Some(format!("{ressort}-{fv}"));
        o.spec.ressort = ressort.into();
        o.spec.fachverfahren = fv.into();
        o.spec.display_name = format!("Zeit für {ressort} – \"Büro\"; Süd");
        o.spec.aufgabe = aufgabe.map(String::from);
        o
    }

    fn sample() -> Inventory {
        Inventory::build(
            &[
                task("zeiterfassung", AufgabeKind::Querschnitt),
                task("schichtplanung", AufgabeKind::Fachaufgabe),
            ],
            &[
                onboarding("mk", "zeit", Some("zeiterfassung")),
                onboarding("ms", "zeitwirtschaft", Some("zeiterfassung")),
                onboarding("mi", "dienstplan", Some("dienstplanung")),
                onboarding("mu", "portal", None),
            ],
            &[],
        )
    }

    #[test]
    fn every_onboarding_appears_once_under_its_task_or_a_placeholder() {
        let inv = sample();
        let names: Vec<&str> = inv.tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["schichtplanung", "zeiterfassung", "dienstplanung", ""]
        );
        let zeit = &inv.tasks[1];
        assert!(zeit.parallel);
        assert_eq!((zeit.ressorts, zeit.fachverfahren), (2, 2));
        assert_eq!(inv.tasks[2].kind, None, "a name without a task is marked");
        assert!(
            !inv.tasks[3].parallel,
            "onboardings without a task are not parallel solutions"
        );
        let total: usize = inv.tasks.iter().map(|t| t.solutions.len()).sum();
        assert_eq!(total, 4);
    }

    #[test]
    fn parallel_only_keeps_the_tasks_served_twice_or_more() {
        let inv = sample().parallel_only();
        assert_eq!(inv.tasks.len(), 1);
        assert_eq!(inv.tasks[0].name, "zeiterfassung");
    }

    #[test]
    fn csv_opens_in_a_spreadsheet_with_umlauts_and_quoted_separators() {
        let out = render(&sample(), Format::Csv);
        assert!(
            out.starts_with('\u{feff}'),
            "a byte-order mark tells spreadsheets it is UTF-8"
        );
        let lines: Vec<&str> = out.trim_start_matches('\u{feff}').split("\r\n").collect();
        assert_eq!(lines[0].split(';').count(), COLUMNS.len());
        // schichtplanung (no solution), zeiterfassung ×2, dienstplanung, none: 5 rows and the header.
        assert_eq!(lines.iter().filter(|l| !l.is_empty()).count(), 6);
        assert!(
            out.contains("\"Zeit für mk – \"\"Büro\"\"; Süd\""),
            "fields with ; and quotes are quoted: {out}"
        );
    }

    #[test]
    fn markdown_and_table_list_every_row() {
        let md = render(&sample(), Format::Markdown);
        assert_eq!(md.lines().count(), 2 + 5);
        let table = render(&sample(), Format::Table);
        assert_eq!(table.lines().count(), 1 + 5);
        assert!(table.starts_with("AUFGABE"));
    }

    #[test]
    fn backstage_has_a_domain_per_ressort_a_system_per_fachverfahren_and_a_resource_per_environment()
     {
        let out = render(&sample(), Format::Backstage);
        let count = |kind: &str| out.matches(&format!("kind: {kind}\n")).count();
        // 4 Ressorts, 4 Fachverfahren, 2 environments each (the fixture's dev and prod).
        assert_eq!(
            (count("Domain"), count("System"), count("Resource")),
            (4, 4, 8)
        );
        assert!(out.contains("name: mk-zeit-prod"));
        assert!(out.contains("system: mk-zeit"));
        assert!(out.contains("conplus.niedersachsen.de/aufgabe: zeiterfassung"));
    }

    #[test]
    fn json_lists_tasks_with_their_solutions() {
        let v: Value = serde_json::from_str(&render(&sample(), Format::Json)).unwrap();
        assert_eq!(v["tasks"][1]["name"], "zeiterfassung");
        assert_eq!(v["tasks"][1]["solutions"][0]["ressort"], "mk");
        assert_eq!(v["tasks"][1]["parallel"], true);
    }
}
