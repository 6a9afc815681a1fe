/** The shared adapter conformance suite, on SQLite files. */
import { describeAdapterSuite } from './adapter-suite.js'
import { sqliteSuiteFactory } from './sqlite-suite-factory.js'

describeAdapterSuite(sqliteSuiteFactory)
