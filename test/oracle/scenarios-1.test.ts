/** The oracle's scenarios, part 1 of 2 (oracle-scenarios.ts: every other one, both kernels). */
import { oracleScenarios } from './oracle-scenarios.js';

oracleScenarios(1, 2);
