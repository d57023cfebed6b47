from fastapi import APIRouter

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/customers", name="console_customers")
def customers() -> None:
    return None
