//! Scripted input (`--script FILE`): commands that drive the UI through real egui input
//! events, in the window and headless alike.
//!
//! One command per line; `#` starts a comment:
//! - `click NAME`: pointer move + press (one frame), release (the next) at the centre of the
//!   widget named NAME as laid out in the previous frame (waits until it exists);
//! - `key NAME`: press and release an egui key (`Space`, `R`, ...);
//! - `wait-frames N`: let N frames pass;
//! - `wait-steps N`: wait until training has reached step N;
//! - `quit`: end the app (after the trainer has finished every command sent to it).

use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::path::Path;

/// Frames a `click` waits for its widget before the script fails.
const MAX_WAIT_FOR_WIDGET: u64 = 600;

/// One script command.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Click the named widget.
    Click(String),
    /// Press and release a key.
    Key(egui::Key),
    /// Let frames pass.
    WaitFrames(u64),
    /// Wait for a training step.
    WaitSteps(u64),
    /// Quit.
    Quit,
}

/// What the app should do after a script step.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Keep going.
    Continue,
    /// Quit now.
    Quit,
}

/// A parsed script and where it is.
#[derive(Clone, Debug)]
pub struct Script {
    commands: Vec<(usize, Command)>,
    next: usize,
    wait_until_frame: Option<u64>,
    release_at: Option<egui::Pos2>,
    waited: u64,
    name: String,
}

impl Script {
    /// Reads and parses a script file; errors name the file and line.
    pub fn load(path: &Path) -> Result<Script> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Script::parse(&text, &path.display().to_string())
    }

    /// Parses script text (`name` is used in error messages).
    pub fn parse(text: &str, name: &str) -> Result<Script> {
        let mut commands = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let verb = words.next().unwrap_or("");
            let arg = words.next();
            let at = || format!("{name}:{}", i + 1);
            let number = |a: Option<&str>| -> Result<u64> {
                let a = a.with_context(|| format!("{}: `{verb}` needs a number", at()))?;
                a.parse().with_context(|| format!("{}: `{verb} {a}`: expected a whole number", at()))
            };
            let cmd = match verb {
                "click" => {
                    Command::Click(arg.with_context(|| format!("{}: `click` needs a widget name", at()))?.into())
                }
                "key" => {
                    let k = arg.with_context(|| format!("{}: `key` needs a key name", at()))?;
                    Command::Key(
                        egui::Key::from_name(k)
                            .with_context(|| format!("{}: unknown key {k:?} (egui's names)", at()))?,
                    )
                }
                "wait-frames" => Command::WaitFrames(number(arg)?),
                "wait-steps" => Command::WaitSteps(number(arg)?),
                "quit" => Command::Quit,
                other => {
                    bail!("{}: unknown command {other:?}; expected click, key, wait-frames, wait-steps or quit", at())
                }
            };
            if words.next().is_some() {
                bail!("{}: too many words in {line:?}", at());
            }
            commands.push((i + 1, cmd));
        }
        Ok(Script { commands, next: 0, wait_until_frame: None, release_at: None, waited: 0, name: name.into() })
    }

    /// Whether every command has run.
    pub fn finished(&self) -> bool {
        self.next >= self.commands.len() && self.release_at.is_none()
    }

    /// Runs the script up to its next wait at the start of frame `frame`: appends input
    /// events to `events`. `step` is the trainer's last reported step and `widgets` the
    /// rectangles (in points) of the named widgets of the previous frame.
    pub fn advance(
        &mut self,
        frame: u64,
        step: u64,
        widgets: &HashMap<String, egui::Rect>,
        events: &mut Vec<egui::Event>,
    ) -> Result<Outcome> {
        if let Some(pos) = self.release_at.take() {
            events.push(pointer(pos, false));
            return Ok(Outcome::Continue);
        }
        while let Some((line, cmd)) = self.commands.get(self.next).cloned() {
            match cmd {
                Command::WaitFrames(n) => {
                    let until = *self.wait_until_frame.get_or_insert(frame + n);
                    if frame < until {
                        return Ok(Outcome::Continue);
                    }
                    self.wait_until_frame = None;
                }
                Command::WaitSteps(n) => {
                    if step < n {
                        return Ok(Outcome::Continue);
                    }
                }
                Command::Click(name) => match widgets.get(&name) {
                    Some(rect) => {
                        let pos = rect.center();
                        events.push(egui::Event::PointerMoved(pos));
                        events.push(pointer(pos, true));
                        self.release_at = Some(pos);
                        self.next += 1;
                        self.waited = 0;
                        return Ok(Outcome::Continue);
                    }
                    None => {
                        self.waited += 1;
                        if self.waited > MAX_WAIT_FOR_WIDGET {
                            let mut known: Vec<_> = widgets.keys().cloned().collect();
                            known.sort();
                            bail!(
                                "{}:{line}: no widget named {name:?} appeared in {MAX_WAIT_FOR_WIDGET} frames \
                                 (widgets now: {})",
                                self.name,
                                known.join(", ")
                            );
                        }
                        return Ok(Outcome::Continue);
                    }
                },
                Command::Key(key) => {
                    for pressed in [true, false] {
                        events.push(egui::Event::Key {
                            key,
                            physical_key: None,
                            pressed,
                            repeat: false,
                            modifiers: egui::Modifiers::NONE,
                        });
                    }
                }
                Command::Quit => {
                    self.next += 1;
                    return Ok(Outcome::Quit);
                }
            }
            self.next += 1;
        }
        Ok(Outcome::Continue)
    }
}

fn pointer(pos: egui::Pos2, pressed: bool) -> egui::Event {
    egui::Event::PointerButton { pos, button: egui::PointerButton::Primary, pressed, modifiers: egui::Modifiers::NONE }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command_and_names_bad_lines() {
        let s = Script::parse("# demo\nclick start\nwait-steps 300 # comment\nkey Space\nwait-frames 2\nquit\n", "t")
            .expect("parses");
        assert_eq!(s.commands.len(), 5);
        assert_eq!(s.commands[1].1, Command::WaitSteps(300));
        let e = Script::parse("click\n", "f.txt").expect_err("missing name");
        assert!(format!("{e:#}").contains("f.txt:1"), "{e:#}");
        let e = Script::parse("jump 3\n", "f.txt").expect_err("unknown verb");
        assert!(format!("{e:#}").contains("unknown command"), "{e:#}");
    }

    #[test]
    fn click_presses_then_releases_at_the_widget_centre() {
        let mut s = Script::parse("click go\nquit\n", "t").expect("parses");
        let mut widgets = HashMap::new();
        let mut ev = Vec::new();
        assert_eq!(s.advance(0, 0, &widgets, &mut ev).expect("runs"), Outcome::Continue);
        assert!(ev.is_empty(), "waits for the widget");
        widgets.insert("go".to_string(), egui::Rect::from_min_max(egui::pos2(10.0, 10.0), egui::pos2(30.0, 20.0)));
        s.advance(1, 0, &widgets, &mut ev).expect("runs");
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[1], pointer(egui::pos2(20.0, 15.0), true));
        ev.clear();
        s.advance(2, 0, &widgets, &mut ev).expect("runs");
        assert_eq!(ev, vec![pointer(egui::pos2(20.0, 15.0), false)]);
        assert_eq!(s.advance(3, 0, &widgets, &mut ev).expect("runs"), Outcome::Quit);
    }
}
