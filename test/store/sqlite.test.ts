import { SqliteStoreLive } from "../../src/adapters/store/sqlite/sqlite-store.js"
import { tempDir } from "../support/ledger-fixture.js"
import { storeConformance } from "./conformance.js"

storeConformance("sqlite", () => SqliteStoreLive({ file: `${tempDir("hv-store-")}/ledger.db`, pollMillis: 20 }))
