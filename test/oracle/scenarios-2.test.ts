/** The oracle's scenarios, part 2 of 2 (oracle-scenarios.ts: every other one, both kernels). */
import { oracleScenarios } from './oracle-scenarios.js';

oracleScenarios(2, 2);
