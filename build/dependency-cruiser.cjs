// dependency-cruiser configuration (`npm run lint` runs it): no import cycles in the clinic core,
// the sync server or shared code. Type-only imports count (tsPreCompilationDeps): a cycle of types
// still means two modules can only change together, which is how a domain and the sync wing
// used to be tied (issue #10).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'Import cycles are forbidden in main/, sync-server/ and shared/ (docs/architecture.md, Layers).',
      from: { path: '^(main|sync-server|shared)/' },
      to: { circular: true },
    },
    {
      name: 'sync-imports-no-domain',
      severity: 'error',
      comment:
        'The sync wing imports no clinic domain: domains plug into it through the entity declarations ' +
        '(shared/sync/entities/) and the replication hooks (main/core/replication.ts).',
      from: { path: '^main/core/sync/' },
      to: { path: '^main/core/(patients|conflicts|users|branches|setup)/' },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    // The core's compiler settings (NodeNext): './x.js' in a source is './x.ts' on disk.
    tsConfig: { fileName: 'main/tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/' },
  },
};
