/** `tracker show`, `tracker stats`, `tracker compare` (being written). */
import type { Command } from 'commander';

export function registerInspectCommands(program: Command): void {
  void program;
}
