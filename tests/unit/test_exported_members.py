"""The public surface is deliberate: adding or removing a name is a visible change."""

import mesh
import mesh.testing


def test_mesh_exports() -> None:
    assert mesh.__all__ == [
        "Agent",
        "AgentCard",
        "AgentTool",
        "Approval",
        "ApprovalExpired",
        "ApprovalNotPending",
        "ApprovalStatus",
        "Budget",
        "BudgetExceeded",
        "ChatMessage",
        "ChildCancelled",
        "ChildError",
        "ChildFailed",
        "ChildResultInvalid",
        "ChildTimedOut",
        "Client",
        "FieldError",
        "FunctionTool",
        "InvalidInput",
        "MeshError",
        "ModelAnswer",
        "ModelCallLimitExceeded",
        "ModelError",
        "ModelOutputInvalid",
        "ModelRateLimited",
        "ModelRefused",
        "ModelSpec",
        "ModelUnavailable",
        "Policies",
        "Reject",
        "Retry",
        "RetryPolicy",
        "Settings",
        "SettingsError",
        "SetupError",
        "Steer",
        "StepTooLarge",
        "SupervisionPolicy",
        "TaskContext",
        "TaskHandle",
        "TaskNotFound",
        "TaskState",
        "TaskStatus",
        "ToolLoopExhausted",
        "ToolSpec",
        "TransportError",
        "UnknownAgent",
        "Usage",
        "Worker",
        "WorkerFailed",
        "load_settings",
    ]
    assert mesh.__all__ == sorted(mesh.__all__)
    for name in mesh.__all__:
        assert getattr(mesh, name) is not None


def test_testing_exports() -> None:
    assert mesh.testing.__all__ == ["MemoryBroker", "MemoryTransport", "TestMesh"]


def test_package_root_does_not_import_kafka_clients() -> None:
    import subprocess
    import sys

    code = "import sys, mesh; print(any(m.startswith(('aiokafka', 'faust')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
