"""Workflows: Python is the orchestrator, each task call is its own run.

A driver runs a workflow's body (or any task's body that calls tasks); every task
call it makes becomes a child run through the same pipeline and backend code a
single `pack run` uses (`pack.launcher.run.run_execution`). Modules here import
only the standard library at the top, so a task that calls no tasks pays nothing.

    active      the driver of this process, if any (what Task.__call__ asks)
    definition  @workflow
    spec        DriverSpec: what a driver needs, written to the store by the client
    driver      Driver: child calls, concurrency, cancellation (children's records: pack.runs)
    binding     call arguments -> named inputs; map_task elements (zip / broadcast)
    map_task    map_task(t, concurrency=, min_success_ratio=)
    cache       result cache keys and entries in the store
    images      every task's image prepared by the client before a driver starts
    launch      what the client decides before the run starts (images, driver spec)
    inprocess   the driver of an attached workflow, run in the client's process
    process     which process drives an attached run here (for `pack cancel`)
    shell       ShellTask
    rbac        the Role and RoleBinding a driver pod needs
"""
