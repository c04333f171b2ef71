import type { Command } from 'commander';

export function registerCheckpointCommands(program: Command): void {
  void program;
}
